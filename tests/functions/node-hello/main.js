const isNumber = require('is-number');

exports.handle = async (event, context) => {
  if (event.path === '/json') {
    return { numeric: isNumber(event.queryStringParameters.n), function: context.functionName };
  }
  if (event.path === '/error') {
    throw new Error('the handler failed on purpose');
  }
  console.log('hello from node on stdout');
  return {
    statusCode: 200,
    headers: { 'content-type': 'text/plain' },
    body: `hello from node, is-number says ${isNumber('42')}`,
  };
};
