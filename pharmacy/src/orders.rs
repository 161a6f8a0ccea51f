//! An order as stored and as shown, who may see it, and the notices each change sends.

use serde::Serialize;
use serde_json::json;
use sqlx::AnyConnection;
use utoipa::ToSchema;
use vaidya_consult::prescriptions::PrescribedItem;
use vaidya_registry::auth::{AuthUser, Role};
use vaidya_registry::db::rfc3339;
use vaidya_registry::events::emit;
use vaidya_registry::{ApiError, ApiResult};

use crate::machine::{Fulfilment, Status};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OrderRow {
    pub id: String,
    pub prescription_id: String,
    pub patient_health_id: String,
    pub patient_account_id: String,
    pub patient_name: String,
    pub pharmacy_id: Option<String>,
    pub pharmacy_name: Option<String>,
    pub status: String,
    pub fulfilment: String,
    pub delivery_address: Option<String>,
    pub origin_lat: f64,
    pub origin_lon: f64,
    pub accept_by: Option<i64>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

pub(crate) const SELECT_ORDER: &str = "SELECT o.id, o.prescription_id, o.patient_health_id, p.account_id AS patient_account_id, p.name AS patient_name, \
     o.pharmacy_id, f.name AS pharmacy_name, o.status, o.fulfilment, o.delivery_address, o.origin_lat, o.origin_lon, o.accept_by, o.version, \
     o.created_at, o.updated_at \
     FROM orders o JOIN patients p ON p.health_id = o.patient_health_id LEFT JOIN facilities f ON f.id = o.pharmacy_id";

impl OrderRow {
    pub async fn load(conn: &mut AnyConnection, id: &str) -> ApiResult<Option<Self>> {
        if uuid::Uuid::parse_str(id).is_err() {
            return Ok(None);
        }
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT_ORDER} WHERE o.id = $1"))).bind(id).fetch_optional(conn).await?)
    }

    pub fn status(&self) -> Status {
        Status::parse(&self.status).unwrap_or(Status::Cancelled)
    }

    pub fn fulfilment(&self) -> Fulfilment {
        Fulfilment::parse(&self.fulfilment).unwrap_or(Fulfilment::Pickup)
    }

    /// The order if `user` is its patient, or a pharmacist of the pharmacy holding it; 404 otherwise. One query: the
    /// holder check rides along with the load.
    pub async fn load_for(conn: &mut AnyConnection, id: &str, user: &AuthUser) -> ApiResult<Self> {
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(ApiError::not_found());
        }
        let sql = match user.role {
            Role::Patient => format!("{SELECT_ORDER} WHERE o.id = $1 AND o.patient_health_id = $2"),
            Role::Pharmacist => format!(
                "{SELECT_ORDER} WHERE o.id = $1 AND EXISTS \
                 (SELECT 1 FROM provider_facilities pf WHERE pf.provider_id = $2 AND pf.facility_id = o.pharmacy_id)"
            ),
            _ => return Err(ApiError::not_found()),
        };
        let row: Option<Self> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).bind(&user.subject_id).fetch_optional(conn).await?;
        row.ok_or_else(ApiError::not_found)
    }
}

/// The accounts of a pharmacy's verified pharmacists.
async fn pharmacists(conn: &mut AnyConnection, pharmacy_id: &str) -> ApiResult<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT p.account_id FROM provider_facilities pf JOIN providers p ON p.id = pf.provider_id \
         WHERE pf.facility_id = $1 AND p.role = 'pharmacist' AND p.status = 'verified'",
    )
    .bind(pharmacy_id)
    .fetch_all(conn)
    .await?)
}

/// Queues `order.updated` for the patient and for the pharmacists of the holding pharmacy (and of `previous`, a pharmacy
/// the order just left), in the transaction of the change; returns the accounts to wake after commit.
pub async fn announce(conn: &mut AnyConnection, order: &OrderRow, previous: Option<&str>) -> ApiResult<Vec<String>> {
    let data = json!({
        "order_id": order.id,
        "prescription_id": order.prescription_id,
        "status": order.status,
        "pharmacy_id": order.pharmacy_id,
        "pharmacy_name": order.pharmacy_name,
    });
    let mut accounts = vec![order.patient_account_id.clone()];
    for pharmacy in order.pharmacy_id.iter().map(String::as_str).chain(previous) {
        accounts.extend(pharmacists(conn, pharmacy).await?);
    }
    accounts.sort();
    accounts.dedup();
    for account in &accounts {
        emit(conn, account, "order.updated", &data).await?;
    }
    Ok(accounts)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PharmacyRef {
    pub facility_id: String,
    pub name: String,
}

/// One pharmacy's turn with the order, as stored.
#[derive(Debug, sqlx::FromRow)]
struct Turn {
    pharmacy_id: String,
    pharmacy_name: String,
    routed_ms: i64,
    outcome: Option<String>,
    reason: Option<String>,
}

/// What the pharmacy needs to dispense, and nothing of the consult itself.
#[derive(Debug, Serialize, ToSchema)]
pub struct PrescriptionSummary {
    pub prescription_id: String,
    pub patient_name: String,
    pub patient_age: Option<i64>,
    pub doctor_name: String,
    pub registration_number: String,
    pub items: Vec<PrescribedItem>,
    pub issued_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderView {
    pub order_id: String,
    pub prescription_id: String,
    /// `routed`, `accepted`, `ready`, `dispatched`, `dispensed`, `unfulfilled` or `cancelled`.
    pub status: String,
    pub pharmacy_id: Option<String>,
    pub pharmacy: Option<PharmacyRef>,
    /// `pickup` or `delivery`.
    pub fulfilment: String,
    #[schema(value_type = Option<Object>)]
    pub delivery_address: Option<serde_json::Value>,
    /// While routed: when the pharmacy's time to accept runs out.
    pub accept_by: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub prescription: PrescriptionSummary,
    /// Every pharmacy that has held the order, in turn.
    pub history: Vec<TurnView>,
}

/// One pharmacy's turn with the order.
#[derive(Debug, Serialize, ToSchema)]
pub struct TurnView {
    pub pharmacy_id: String,
    pub pharmacy_name: String,
    pub routed_at: String,
    /// `accepted`, `rejected`, `timed_out`, `cancelled`, or none while it is this pharmacy's turn.
    pub outcome: Option<String>,
    pub reason: Option<String>,
}

impl OrderRow {
    /// The full view: the order, what to dispense, and its history.
    pub async fn view(self, conn: &mut AnyConnection) -> ApiResult<OrderView> {
        let summary: Option<(String, Option<i64>, String, String, String, i64)> = sqlx::query_as(
            "SELECT x.items, x.patient_age, d.name, d.registration_number, x.id, x.created_at \
             FROM prescriptions x JOIN providers d ON d.id = x.doctor_id WHERE x.id = $1",
        )
        .bind(&self.prescription_id)
        .fetch_optional(&mut *conn)
        .await?;
        let (items, patient_age, doctor_name, registration_number, prescription_id, issued) =
            summary.ok_or_else(|| ApiError::internal("prescription of an order vanished"))?;
        let history: Vec<Turn> = sqlx::query_as(
            "SELECT h.pharmacy_id, f.name AS pharmacy_name, h.routed_at AS routed_ms, h.outcome, h.reason \
             FROM order_holders h JOIN facilities f ON f.id = h.pharmacy_id WHERE h.order_id = $1 ORDER BY h.routed_at, h.pharmacy_id",
        )
        .bind(&self.id)
        .fetch_all(&mut *conn)
        .await?;
        Ok(OrderView {
            order_id: self.id,
            prescription_id: self.prescription_id,
            pharmacy: match (&self.pharmacy_id, &self.pharmacy_name) {
                (Some(id), Some(name)) => Some(PharmacyRef { facility_id: id.clone(), name: name.clone() }),
                _ => None,
            },
            pharmacy_id: self.pharmacy_id,
            accept_by: if self.status == "routed" { self.accept_by.map(rfc3339) } else { None },
            status: self.status,
            fulfilment: self.fulfilment,
            delivery_address: self.delivery_address.and_then(|a| serde_json::from_str(&a).ok()),
            created_at: rfc3339(self.created_at),
            updated_at: rfc3339(self.updated_at),
            prescription: PrescriptionSummary {
                prescription_id,
                patient_name: self.patient_name,
                patient_age,
                doctor_name,
                registration_number,
                items: serde_json::from_str(&items).unwrap_or_default(),
                issued_at: rfc3339(issued),
            },
            history: history
                .into_iter()
                .map(|t| TurnView {
                    pharmacy_id: t.pharmacy_id,
                    pharmacy_name: t.pharmacy_name,
                    routed_at: rfc3339(t.routed_ms),
                    outcome: t.outcome,
                    reason: t.reason,
                })
                .collect(),
        })
    }
}
