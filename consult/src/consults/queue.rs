//! Queues: a waiting consult sits in the lane of the doctor it names, or else of its speciality. Positions count
//! from 1 in order of arrival (ids are time-ordered), and every change tells the people in the lane.

use serde_json::json;
use sqlx::AnyConnection;
use vaidya_registry::ApiResult;
use vaidya_registry::events::emit;

use super::ConsultRow;

/// Which queue a consult waits in.
#[derive(Clone, Debug)]
pub enum Lane {
    Doctor(String),
    Speciality(String),
}

impl Lane {
    pub fn of(row: &ConsultRow) -> Self {
        match (&row.requested_doctor_id, &row.speciality_key) {
            (Some(doctor), _) => Self::Doctor(doctor.clone()),
            (None, speciality) => Self::Speciality(speciality.clone().unwrap_or_default()),
        }
    }

    /// SQL matching waiting consults of this lane on table alias `c`, with the lane's key as `$1`.
    fn predicate(&self) -> &'static str {
        match self {
            Self::Doctor(_) => "c.status = 'waiting' AND c.requested_doctor_id = $1",
            Self::Speciality(_) => "c.status = 'waiting' AND c.requested_doctor_id IS NULL AND c.speciality_key = $1",
        }
    }

    fn key(&self) -> &str {
        match self {
            Self::Doctor(k) | Self::Speciality(k) => k,
        }
    }
}

/// 1 for the next to be seen.
pub async fn position(conn: &mut AnyConnection, row: &ConsultRow) -> ApiResult<Option<i64>> {
    if row.status != "waiting" {
        return Ok(None);
    }
    let lane = Lane::of(row);
    let ahead: i64 = sqlx::query_scalar(dyn_sql!("SELECT COUNT(*) FROM consults c WHERE {} AND c.id <= $2", lane.predicate()))
        .bind(lane.key())
        .bind(&row.id)
        .fetch_one(conn)
        .await?;
    Ok(Some(ahead))
}

/// The accounts of the doctors who see this lane: the named doctor, or every verified doctor of the speciality.
async fn lane_doctors(conn: &mut AnyConnection, lane: &Lane) -> ApiResult<Vec<String>> {
    let sql = match lane {
        Lane::Doctor(_) => "SELECT account_id FROM providers WHERE id = $1",
        Lane::Speciality(_) => {
            "SELECT account_id FROM providers WHERE role = 'doctor' AND status = 'verified' AND LOWER(TRIM(speciality)) = $1"
        }
    };
    Ok(sqlx::query_scalar(sql).bind(lane.key()).fetch_all(conn).await?)
}

/// After `changed` joined or left `lane` (in this transaction): every patient still waiting behind it gets their new
/// position, and the lane's doctors get the new length. Returns the accounts to wake once the transaction commits.
pub async fn announce(conn: &mut AnyConnection, lane: &Lane, changed: &ConsultRow) -> ApiResult<Vec<String>> {
    let behind: Vec<(String, String)> = sqlx::query_as(dyn_sql!(
        "SELECT c.id, p.account_id FROM consults c JOIN patients p ON p.health_id = c.patient_health_id \
         WHERE {} AND c.id > $2 ORDER BY c.id",
        lane.predicate()
    ))
    .bind(lane.key())
    .bind(&changed.id)
    .fetch_all(&mut *conn)
    .await?;
    let waiting: i64 = sqlx::query_scalar(dyn_sql!("SELECT COUNT(*) FROM consults c WHERE {}", lane.predicate()))
        .bind(lane.key())
        .fetch_one(&mut *conn)
        .await?;
    let mut woken = Vec::new();
    let ahead_of_behind = waiting - behind.len() as i64;
    for (i, (consult_id, account_id)) in behind.into_iter().enumerate() {
        let data = json!({ "consult_id": consult_id, "status": "waiting", "queue_position": ahead_of_behind + i as i64 + 1 });
        emit(conn, &account_id, "queue.updated", &data).await?;
        woken.push(account_id);
    }
    for account_id in lane_doctors(conn, lane).await? {
        let data = json!({ "consult_id": changed.id, "status": changed.status, "waiting": waiting });
        emit(conn, &account_id, "queue.updated", &data).await?;
        woken.push(account_id);
    }
    Ok(woken)
}
