import os
import time

import six


def handle(event, context):
    path = event["path"]
    query = event["queryStringParameters"] or {}
    if path == "/json":
        return {"items": [1, 2, 3], "function": context.function_name}
    if path == "/error":
        raise ValueError("the handler failed on purpose")
    if path == "/half-pair":
        print("half a pair: \ud83d")
        return "ok"
    if path == "/env":
        return {"GREETING": os.environ.get("GREETING")}
    if path == "/sleep":
        time.sleep(int(query.get("ms", "100")) / 1000)
        return {"slept": int(query.get("ms", "100"))}
    if path == "/echo":
        return {
            "method": event["httpMethod"],
            "query": query,
            "body": event["body"],
            "isBase64Encoded": event["isBase64Encoded"],
            "header": event["headers"].get("x-test"),
        }
    print("hello from python on stdout")
    return {
        "statusCode": 200,
        "headers": {"content-type": "text/plain"},
        "body": "hello from python, six " + six.__version__,
    }
