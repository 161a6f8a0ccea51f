//! Checking what a doctor prescribes: the shape of each item, then each drug against the formulary and the
//! TPG 2020 list rules for this consult (its visit and mode).

use serde::Deserialize;
use utoipa::ToSchema;
use vaidya_registry::error::{FieldError, Violations};
use vaidya_registry::text::{optional_text, required_text};
use vaidya_registry::{ApiError, ApiResult};

use super::PrescribedItem;
use crate::formulary::{self, Formulary, Refusal};

#[derive(Debug, Deserialize, ToSchema)]
pub struct DrugInput {
    /// The generic name, or a brand or spelling the formulary knows; a trailing strength or form is ignored.
    pub name: Option<String>,
    /// The formulary code (`VD` + 4 digits); wins over the name when both are given.
    pub code: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ItemInput {
    pub drug: Option<DrugInput>,
    pub strength: Option<String>,
    pub form: Option<String>,
    /// e.g. `1 tablet`.
    pub dose: Option<String>,
    /// e.g. `twice a day after food`.
    pub frequency: Option<String>,
    /// 1 to 180.
    pub duration_days: Option<i64>,
    pub route: Option<String>,
    /// Units to dispense, 1 to 1000.
    pub quantity: Option<i64>,
    pub instructions: Option<String>,
}

pub const MAX_ITEMS: usize = 20;
const MAX_DAYS: i64 = 180;
const MAX_QUANTITY: i64 = 1000;

/// The shape of the items (every problem at once), before any drug is looked up.
fn check_shape(items: &[ItemInput]) -> ApiResult<()> {
    let mut v = Violations::new();
    if items.is_empty() {
        v.add("items", "a prescription has at least one item");
    }
    if items.len() > MAX_ITEMS {
        v.add("items", format!("at most {MAX_ITEMS} items"));
    }
    for (i, item) in items.iter().enumerate() {
        let field = |name: &str| format!("items[{i}].{name}");
        match &item.drug {
            None => v.add(field("drug"), "is required: {name} or {code}"),
            Some(d) if d.name.as_deref().is_none_or(|n| n.trim().is_empty()) && d.code.as_deref().is_none_or(|c| c.trim().is_empty()) => {
                v.add(field("drug"), "names the drug: {name} or {code}")
            }
            Some(_) => {}
        }
        v.check(&field("dose"), required_text(item.dose.as_deref(), 1, 100));
        v.check(&field("frequency"), required_text(item.frequency.as_deref(), 1, 100));
        match item.duration_days {
            Some(d) if (1..=MAX_DAYS).contains(&d) => {}
            _ => v.add(field("duration_days"), format!("is a number of days from 1 to {MAX_DAYS}")),
        }
        match item.quantity {
            Some(q) if (1..=MAX_QUANTITY).contains(&q) => {}
            _ => v.add(field("quantity"), format!("is a number of units from 1 to {MAX_QUANTITY}")),
        }
        for (name, value, max) in [
            ("strength", &item.strength, 50),
            ("form", &item.form, 50),
            ("route", &item.route, 50),
            ("instructions", &item.instructions, 500),
        ] {
            v.check(&field(name), optional_text(value.as_deref(), max));
        }
    }
    v.finish()
}

/// Checks every item and resolves its drug; a drug the formulary does not know, or one the TPG 2020 does not allow in
/// this consult, refuses the whole prescription with the code of the gravest problem and every item's reason.
pub fn check(items: &[ItemInput], follow_up: bool, video: bool) -> ApiResult<Vec<PrescribedItem>> {
    check_shape(items)?;
    let formulary = Formulary::shipped();
    let mut unknown = Vec::new();
    let mut refused: Vec<(Refusal, FieldError)> = Vec::new();
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let field = format!("items[{i}].drug");
        let drug_input = item.drug.as_ref().expect("shape checked");
        let asked = drug_input.code.as_deref().filter(|c| !c.trim().is_empty()).or(drug_input.name.as_deref()).unwrap_or_default();
        let Some(drug) = formulary.lookup(asked) else {
            unknown.push(FieldError {
                field,
                message: format!("`{}` is not in the formulary; check the spelling or search for it", asked.trim()),
            });
            continue;
        };
        if let Err(refusal) = formulary::check(drug, follow_up, video) {
            refused.push((refusal, FieldError { field, message: refusal.message(drug) }));
            continue;
        }
        let text = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
        out.push(PrescribedItem {
            index: i as u32,
            code: drug.code.clone(),
            name: drug.name.clone(),
            list: drug.list.as_str().to_owned(),
            strength: text(&item.strength),
            form: text(&item.form),
            dose: item.dose.as_deref().unwrap_or_default().trim().to_owned(),
            frequency: item.frequency.as_deref().unwrap_or_default().trim().to_owned(),
            duration_days: item.duration_days.unwrap_or_default() as u32,
            route: text(&item.route),
            quantity: item.quantity.unwrap_or_default() as u32,
            instructions: text(&item.instructions),
        });
    }
    if !unknown.is_empty() {
        return Err(ApiError::unprocessable("drug_unknown", "A drug on this prescription is not in the formulary.").with_errors(unknown));
    }
    if let Some(gravest) =
        [Refusal::Prohibited, Refusal::RequiresVideo, Refusal::RequiresFollowUp].into_iter().find(|r| refused.iter().any(|(x, _)| x == r))
    {
        let detail = refused.iter().find(|(r, _)| *r == gravest).map(|(_, e)| e.message.clone()).unwrap_or_default();
        let errors = refused.into_iter().map(|(_, e)| e).collect();
        return Err(ApiError::unprocessable(gravest.code(), detail).with_errors(errors));
    }
    Ok(out)
}
