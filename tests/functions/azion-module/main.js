// Azion's module form, in a .js file without "type": "module": `export default { fetch }`
// with the instance's args in `ctx.args`, answering with a streamed body.
export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    console.log("module serving " + url.pathname);
    if (url.pathname === "/boom") throw new Error("module failed on purpose");
    const text = JSON.stringify({ args: ctx.args, path: url.pathname, query: url.search });
    const half = Math.floor(text.length / 2);
    const encoder = new TextEncoder();
    const body = new ReadableStream({
      start(controller) {
        controller.enqueue(encoder.encode(text.slice(0, half)));
        controller.enqueue(encoder.encode(text.slice(half)));
        controller.close();
      },
    });
    return new Response(body, {
      status: 201,
      headers: { "content-type": "application/json", "set-cookie": "a=1" },
    });
  },
};
