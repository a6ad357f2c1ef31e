//! The process side of the invocation path: a request goes to the function's worker pool
//! (python, node or custom), which answers with the whole response, the request's output and,
//! when it had to start a worker, how long that took.

use gust_core::execution::{RECORDED_BODY_LIMIT, RecordedBody};
use gust_core::{Execution, ExecutionLogs, ExecutionResponse, ExecutionStatus, ExecutionTrigger};
use gust_runtime_process::{
    FunctionPool, Outcome, ProcessInvokeError, ProcessRequest, ProcessResponse,
};
use http::{HeaderName, HeaderValue, StatusCode};

use super::body::{Response, ResponseBody};
use super::draft::{Draft, Ending, Start};
use super::{EXECUTION_ID_HEADER, RunRequest};
use crate::Shared;
use crate::error::Error;
use crate::live::LiveFunction;

/// Answer an HTTP invocation.
pub(super) async fn respond(
    state: &Shared,
    live: &LiveFunction,
    pool: &FunctionPool,
    request: RunRequest,
) -> Result<Response, Error> {
    let start = Start::now(live);
    let slot = state.recorder.slot().await;
    // Recorded in `finish`: a caller that hangs up does not stop the run, nor its record.
    pool.invoke_then(
        process_request(request, gust_core::new_id()),
        move |request, answer| {
            let response = http_response(&answer, &request.execution_id);
            let (duration, finished_at) = start.ended();
            // Assembled on the recorder's thread: turning the request and the answer into a
            // record is work the caller need not wait for. Unless a body is larger than a
            // record keeps: then the record is made here, so that what waits in the queue
            // is never more than a record.
            let small = request.body.len() <= RECORDED_BODY_LIMIT
                && answer.body.len() <= RECORDED_BODY_LIMIT;
            let assemble = move || {
                let (request, id) = run_request(request);
                Draft::started(start, id, ExecutionTrigger::Http, &request).end_at(
                    ending(answer),
                    duration,
                    finished_at,
                )
            };
            if small {
                slot.record_with(assemble);
            } else {
                slot.record(assemble());
            }
            response
        },
    )
    .await
    .map_err(not_run)?
}

fn http_response(answer: &ProcessResponse, execution_id: &str) -> Result<Response, Error> {
    let id = HeaderValue::from_str(execution_id).map_err(Error::internal)?;
    let mut response = function_response(answer).map_err(|error| Error {
        execution_id: Some(execution_id.to_string()),
        ..error
    })?;
    // Room for it was reserved.
    let _ = response
        .headers_mut()
        .try_insert(const { HeaderName::from_static(EXECUTION_ID_HEADER) }, id);
    Ok(response)
}

/// The function's answer as a response, less the headers HTTP cannot carry; a 502 if it gave
/// more headers than a response holds (tens of thousands), which no client could read.
fn function_response(answer: &ProcessResponse) -> Result<Response, Error> {
    let too_many = || {
        Error::new(
            StatusCode::BAD_GATEWAY,
            "bad_response",
            "the function answered with more headers than a response can carry",
        )
    };
    let mut response = Response::new(ResponseBody::whole(answer.body.clone()));
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers
        .try_reserve(answer.headers.len() + 1)
        .map_err(|_| too_many())?;
    for (name, value) in &answer.headers {
        // A header the function got wrong is left out rather than failing its response.
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.try_append(name, value).map_err(|_| too_many())?;
        }
    }
    Ok(response)
}

/// Run a request to its end (API and async executions); `Err` when it could not run at all.
pub(super) async fn run_to_end(
    pool: &FunctionPool,
    draft: Draft,
    request: RunRequest,
) -> Result<Execution, Error> {
    let answer = pool
        .invoke(process_request(request, draft.id.clone()))
        .await
        .map_err(not_run)?;
    Ok(draft.end(ending(answer)))
}

/// A request the pool could not take: 429 when every worker is busy and the queue is full,
/// 503 when no worker can start.
fn not_run(error: ProcessInvokeError) -> Error {
    match error {
        ProcessInvokeError::Overloaded { retry_after } => Error::too_many_requests(
            "every worker of the function is busy and its queue is full",
            retry_after.as_secs_f64().ceil().max(1.0) as u64,
        ),
        ProcessInvokeError::Unavailable(reason) => {
            Error::unavailable(format!("the function cannot run now: {reason}"), 5)
        }
    }
}

fn process_request(request: RunRequest, execution_id: String) -> ProcessRequest {
    ProcessRequest {
        method: request.method,
        path: request.path,
        query: request.query,
        headers: request.headers,
        body: request.body,
        execution_id,
    }
}

/// The pool's request back as the run request it was made from, and the execution's id.
fn run_request(request: ProcessRequest) -> (RunRequest, String) {
    let run = RunRequest {
        method: request.method,
        path: request.path,
        query: request.query,
        headers: request.headers,
        body: request.body,
    };
    (run, request.execution_id)
}

fn ending(answer: ProcessResponse) -> Ending {
    let (status, message) = match answer.outcome {
        Outcome::Completed => (ExecutionStatus::Completed, None),
        Outcome::Failed(reason) => (ExecutionStatus::Failed, Some(reason)),
        Outcome::Timeout => (
            ExecutionStatus::Timeout,
            Some("the function ran past its timeout; its worker was stopped".to_string()),
        ),
    };
    Ending {
        status,
        message,
        logs: ExecutionLogs {
            stdout: answer.logs.stdout,
            stderr: answer.logs.stderr,
            truncated: answer.logs.truncated,
        },
        response: Some(ExecutionResponse {
            status_code: answer.status,
            headers: answer.headers.into_iter().collect(),
            body: RecordedBody::capture(&answer.body, answer.body.len() as u64),
        }),
        cold_start: answer.cold_start.is_some(),
        startup: answer.cold_start.map(Into::into),
    }
}
