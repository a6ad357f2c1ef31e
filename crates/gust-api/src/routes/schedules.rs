//! `/api/v1/schedules/next`: when a cron schedule would fire next, computed as cron triggers
//! compute it, so a client can show the times before saving a trigger.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use gust_engine::Caller;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::ApiState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::ApiQuery;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct NextQuery {
    /// A 5-field cron expression (`*/5 * * * *`), `@hourly`-style, or `@every 30s`.
    pub schedule: String,
    /// The IANA timezone the expression is read in (default UTC).
    pub timezone: Option<String>,
    /// How many times, 1 to 20 (default 5).
    #[param(minimum = 1, maximum = 20)]
    pub count: Option<u32>,
}

/// The next fire times of a schedule.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FireTimes {
    /// Ascending, after now; fewer than asked when the schedule stops firing.
    pub times: Vec<DateTime<Utc>>,
}

#[utoipa::path(get, path = "/api/v1/schedules/next", tag = "triggers",
    params(NextQuery),
    responses((status = 200, body = FireTimes), (status = 400, body = ErrorBody)))]
pub async fn next_fire_times(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<NextQuery>,
) -> ApiResult<Json<FireTimes>> {
    let count = query.count.unwrap_or(5) as usize;
    let times = state
        .next_fire_times(&caller, &query.schedule, query.timezone.as_deref(), count)
        .await?;
    Ok(Json(FireTimes { times }))
}
