// Azion's Service Worker form, as code for Azion's edge runtime is written: a fetch listener
// answering with a standard Response, its greeting taken from the instance's args.
addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (url.pathname === "/throw") throw new Error("thrown on purpose");
  event.respondWith(handle(event, url));
});

async function handle(event, url) {
  console.log("serving " + url.pathname);
  if (url.pathname === "/boom") throw new Error("rejected on purpose");
  const greeting = event.args.greeting || "hello";
  const body = event.request.method === "POST" ? await event.request.text() : "";
  const answer = {
    greeting: `${greeting} ${url.searchParams.get("name") || "world"}`,
    called: event.args("greeting") ?? null,
    args: event.args(),
    url: event.request.url,
    path: url.pathname,
    method: event.request.method,
    header: event.request.headers.get("x-test"),
    body,
    bytes: new TextEncoder().encode(body).length,
  };
  return new Response(JSON.stringify(answer), {
    status: 200,
    headers: { "content-type": "application/json", "x-edge": "worker" },
  });
}
