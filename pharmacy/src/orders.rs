//! An order as stored and as shown, who may see it, and the notices each change sends.

use serde::Serialize;
use serde_json::json;
use sqlx::AnyConnection;
use utoipa::ToSchema;
use vaidya_consult::prescriptions::PrescribedItem;
use vaidya_registry::auth::{AuthUser, Caller, Me, Role, SessionCheck};
use vaidya_registry::batch::Batch;
use vaidya_registry::db::rfc3339;
use vaidya_registry::events::{self, emit};
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
    /// What to dispense, read with the order: the prescription's items (JSON), the patient's age, the prescriber.
    pub items: String,
    pub patient_age: Option<i64>,
    pub doctor_name: String,
    pub registration_number: String,
    pub issued_at: i64,
    /// Every pharmacy that has held the order, in turn: read with the order by `load` and `load_for`, by
    /// `load_history` for lists.
    #[sqlx(skip)]
    pub history: Vec<Turn>,
}

/// The prescription's columns an order shows (alias `x` for the prescription, `d` for its prescriber).
macro_rules! summary_columns {
    () => {
        "x.items, x.patient_age, d.name AS doctor_name, d.registration_number, x.created_at AS issued_at"
    };
}

pub(crate) const SUMMARY_COLUMNS: &str = summary_columns!();

/// The columns of an order as `OrderRow` reads it.
macro_rules! order_columns {
    () => {
        concat!(
            "o.id, o.prescription_id, o.patient_health_id, p.account_id AS patient_account_id, p.name AS patient_name, \
             o.pharmacy_id, f.name AS pharmacy_name, o.status, o.fulfilment, o.delivery_address, o.origin_lat, o.origin_lon, o.accept_by, \
             o.version, o.created_at, o.updated_at, ",
            summary_columns!()
        )
    };
}

/// What an order `o` is shown with: its patient, holder, prescription and prescriber.
macro_rules! order_joins {
    () => {
        "JOIN patients p ON p.health_id = o.patient_health_id LEFT JOIN facilities f ON f.id = o.pharmacy_id \
         JOIN prescriptions x ON x.id = o.prescription_id JOIN providers d ON d.id = x.doctor_id"
    };
}

/// Orders `o` and what they are shown with, for lists.
pub(crate) const SELECT_ORDER: &str = concat!("SELECT ", order_columns!(), " FROM orders o ", order_joins!());

/// Order `$1` as `o`, found by its primary key before anything is joined to it. Left to itself, PostgreSQL may start
/// from the holder check (the caller's pharmacies) and walk every order of the pharmacy to find this one: it did so on
/// tables without statistics, and a connection keeps the plan of its prepared statement while the pharmacy's history
/// grows. A subquery with a LIMIT is not merged into the join (on both engines), which rules that plan out whatever
/// the planner believes; the id is unique, so the limit leaves nothing behind.
macro_rules! one_order_from {
    () => {
        concat!("(SELECT * FROM orders WHERE id = $1 LIMIT 1) o ", order_joins!())
    };
}

const SELECT_ONE_ORDER: &str = concat!("SELECT ", order_columns!(), " FROM ", one_order_from!());

/// The turns of order `t` (the query in `{order}`), one row each, for reading an order and its history in one query.
const WITH_TURNS: &str = "SELECT t.*, h.pharmacy_id AS turn_pharmacy_id, hf.name AS turn_pharmacy_name, h.routed_at AS turn_routed_at, \
     h.outcome AS turn_outcome, h.reason AS turn_reason \
     FROM ({order}) t LEFT JOIN order_holders h ON h.order_id = t.id LEFT JOIN facilities hf ON hf.id = h.pharmacy_id";

/// An order with one of its turns (and the caller, when the query checked their session).
#[derive(sqlx::FromRow)]
struct TurnRow {
    #[sqlx(flatten)]
    order: OrderRow,
    turn_pharmacy_id: Option<String>,
    turn_pharmacy_name: Option<String>,
    turn_routed_at: Option<i64>,
    turn_outcome: Option<String>,
    turn_reason: Option<String>,
    #[sqlx(default)]
    me_subject_id: Option<String>,
    #[sqlx(default)]
    me_name: Option<String>,
}

impl TurnRow {
    fn turn(&mut self) -> Option<Turn> {
        Some(Turn {
            pharmacy_id: self.turn_pharmacy_id.take()?,
            pharmacy_name: self.turn_pharmacy_name.take()?,
            routed_ms: self.turn_routed_at?,
            outcome: self.turn_outcome.take(),
            reason: self.turn_reason.take(),
        })
    }
}

/// The order the rows of a `WITH_TURNS` query describe, with its history, and the caller's columns if it has them.
fn gather(rows: Vec<TurnRow>) -> Option<(OrderRow, Option<Me>)> {
    let mut rows = rows.into_iter();
    let mut first = rows.next()?;
    let me = first.me_subject_id.take().zip(first.me_name.take()).map(|(me_subject_id, me_name)| Me { me_subject_id, me_name });
    let mut history: Vec<Turn> = first.turn().into_iter().collect();
    history.extend(rows.filter_map(|mut r| r.turn()));
    // In turn order, as `load_history` reads them; sorted here, a handful of rows, rather than by a sort in the plan.
    history.sort_by(|a, b| a.routed_ms.cmp(&b.routed_ms).then_with(|| a.pharmacy_id.cmp(&b.pharmacy_id)));
    first.order.history = history;
    Some((first.order, me))
}

/// Who may see an order, as SQL over `o` with the viewer's subject id in `subject`; `None` for roles that see none.
fn holder_check(role: Option<Role>, subject: &str) -> Option<String> {
    match role? {
        Role::Patient => Some(format!("o.patient_health_id = {subject}")),
        Role::Pharmacist => Some(format!(
            "EXISTS (SELECT 1 FROM provider_facilities pf WHERE pf.provider_id = {subject} AND pf.facility_id = o.pharmacy_id)"
        )),
        _ => None,
    }
}

/// The query `OrderRow::load_checked` runs for a caller of `role`: the order id is `$1`, the session check's values
/// (see [`SessionCheck::join`]) `$2` to `$5`. Public so that tests can look at its plan.
pub fn load_checked_sql(role: Role) -> Option<String> {
    let order = format!(
        concat!("SELECT ", order_columns!(), ", {me} FROM ", one_order_from!(), " {session} WHERE {holder}"),
        me = SessionCheck::COLUMNS,
        session = SessionCheck::join(2),
        holder = holder_check(Some(role), "me.subject_id")?,
    );
    Some(WITH_TURNS.replace("{order}", &order))
}

impl OrderRow {
    pub async fn load(conn: &mut AnyConnection, id: &str) -> ApiResult<Option<Self>> {
        if uuid::Uuid::parse_str(id).is_err() {
            return Ok(None);
        }
        let sql = WITH_TURNS.replace("{order}", SELECT_ONE_ORDER);
        let rows: Vec<TurnRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_all(conn).await?;
        Ok(gather(rows).map(|(order, _)| order))
    }

    /// The order if `user` is its patient, or a pharmacist of the pharmacy holding it; 404 otherwise. One query: the
    /// holder check, what to dispense and the history ride along with the load.
    pub async fn load_for(conn: &mut AnyConnection, id: &str, user: &AuthUser) -> ApiResult<Self> {
        let holder = holder_check(Some(user.role), "$2").ok_or_else(ApiError::not_found)?;
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(ApiError::not_found());
        }
        let sql = WITH_TURNS.replace("{order}", &format!("{SELECT_ONE_ORDER} WHERE {holder}"));
        let rows: Vec<TurnRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).bind(&user.subject_id).fetch_all(conn).await?;
        gather(rows).map(|(order, _)| order).ok_or_else(ApiError::not_found)
    }

    /// `load_for` a caller whose session this same query checks: the order and the caller, or 401, or 404.
    pub async fn load_checked(conn: &mut AnyConnection, id: &str, caller: &Caller) -> ApiResult<(Self, AuthUser)> {
        let sql = caller.role().and_then(load_checked_sql);
        let Some(sql) = sql.filter(|_| uuid::Uuid::parse_str(id).is_ok()) else { return Err(caller.not_found(conn).await) };
        let query = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id);
        let rows: Vec<TurnRow> = caller.session().bind(query).fetch_all(&mut *conn).await?;
        match gather(rows) {
            Some((order, Some(me))) => Ok((order, caller.user(me))),
            _ => Err(caller.not_found(conn).await),
        }
    }

    /// Reads the history of an order loaded without it (a page of a list).
    pub async fn load_history(&mut self, conn: &mut AnyConnection) -> ApiResult<()> {
        self.history = sqlx::query_as(
            "SELECT h.pharmacy_id, f.name AS pharmacy_name, h.routed_at AS routed_ms, h.outcome, h.reason \
             FROM order_holders h JOIN facilities f ON f.id = h.pharmacy_id WHERE h.order_id = $1 ORDER BY h.routed_at, h.pharmacy_id",
        )
        .bind(&self.id)
        .fetch_all(conn)
        .await?;
        Ok(())
    }

    pub fn status(&self) -> Status {
        Status::parse(&self.status).unwrap_or(Status::Cancelled)
    }

    pub fn fulfilment(&self) -> Fulfilment {
        Fulfilment::parse(&self.fulfilment).unwrap_or(Fulfilment::Pickup)
    }

    /// The items as prescribed.
    pub fn prescribed(&self) -> Vec<PrescribedItem> {
        serde_json::from_str(&self.items).unwrap_or_default()
    }
}

/// The query of the accounts of the verified pharmacists of pharmacy `pharmacy` (a placeholder): the pharmacy's staff,
/// each looked up by primary key. Joined freely, or with the role in the lookup's WHERE, PostgreSQL may walk every
/// verified pharmacist (the role index) instead, on every change of every order, and did so on tables without
/// statistics. A scalar subquery is never turned into a join, and with only the id to go on it has one index to use
/// (on both engines).
pub fn pharmacists_of(pharmacy: &str) -> String {
    format!(
        "SELECT account_id FROM (SELECT (SELECT CASE WHEN role = 'pharmacist' AND status = 'verified' THEN account_id END \
         FROM providers WHERE id = pf.provider_id) AS account_id FROM provider_facilities pf WHERE pf.facility_id = {pharmacy}) staff \
         WHERE account_id IS NOT NULL"
    )
}

/// The accounts of a pharmacy's verified pharmacists.
async fn pharmacists(conn: &mut AnyConnection, pharmacy_id: &str) -> ApiResult<Vec<String>> {
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(pharmacists_of("$1"))).bind(pharmacy_id).fetch_all(conn).await?)
}

/// What `order.updated` says.
fn notice(order: &OrderRow) -> serde_json::Value {
    json!({
        "order_id": order.id,
        "prescription_id": order.prescription_id,
        "status": order.status,
        "pharmacy_id": order.pharmacy_id,
        "pharmacy_name": order.pharmacy_name,
    })
}

/// Queues `order.updated` for the patient and for the pharmacists of the holding pharmacy (and of `previous`, a pharmacy
/// the order just left), in the transaction of the change; returns the accounts to wake after commit.
pub async fn announce(conn: &mut AnyConnection, order: &OrderRow, previous: Option<&str>) -> ApiResult<Vec<String>> {
    let data = notice(order);
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

/// `announce` within a [`Batch`] whose CTE `guard` made the change: adds CTE `told`, the accounts to wake.
pub fn announce_in(batch: &mut Batch, order: &OrderRow, guard: &str) {
    let (patient, holder) = (batch.arg(&order.patient_account_id), batch.arg(&order.pharmacy_id));
    let recipients = format!("SELECT {patient} AS account_id UNION {}", pharmacists_of(&holder));
    events::emit_in(batch, "told", &recipients, "order.updated", &notice(order), Some(guard));
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PharmacyRef {
    pub facility_id: String,
    pub name: String,
}

/// One pharmacy's turn with the order, as stored.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Turn {
    pub pharmacy_id: String,
    pub pharmacy_name: String,
    pub routed_ms: i64,
    pub outcome: Option<String>,
    pub reason: Option<String>,
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
    pub fn view(self) -> OrderView {
        OrderView {
            order_id: self.id,
            prescription_id: self.prescription_id.clone(),
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
                prescription_id: self.prescription_id,
                patient_name: self.patient_name,
                patient_age: self.patient_age,
                doctor_name: self.doctor_name,
                registration_number: self.registration_number,
                items: serde_json::from_str(&self.items).unwrap_or_default(),
                issued_at: rfc3339(self.issued_at),
            },
            history: self
                .history
                .into_iter()
                .map(|t| TurnView {
                    pharmacy_id: t.pharmacy_id,
                    pharmacy_name: t.pharmacy_name,
                    routed_at: rfc3339(t.routed_ms),
                    outcome: t.outcome,
                    reason: t.reason,
                })
                .collect(),
        }
    }
}
