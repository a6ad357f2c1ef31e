// Preloaded with `node --require`: Azion's library sends every request to the constant
// https://api.azionapi.net, so fetch is wrapped to send those to the Gust under test
// ($AZION_API_URL) instead. Nothing else in the library changes.
const upstream = 'https://api.azionapi.net';
const target = process.env.AZION_API_URL;
const original = globalThis.fetch;
globalThis.fetch = (input, init) => {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  if (url.startsWith(upstream)) return original(target + url.slice(upstream.length), init);
  return original(input, init);
};
