//! An independent FHIR R4 validator for the documents the service emits (NDHM/NRCES OPConsultRecord and PrescriptionRecord
//! Bundles), so the end-to-end tests hold every document to the spec rather than to the service's own idea of it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Display;

use serde_json::{Map, Value};

type Object = Map<String, Value>;

const SNOMED: &str = "http://snomed.info/sct";
const HEALTH_ID_SYSTEM: &str = "https://healthid.ndhm.gov.in";
const DOCTOR_SYSTEM: &str = "https://doctor.ndhm.gov.in";
const OP_CONSULT_CODE: &str = "371530004";
const PRESCRIPTION_CODE: &str = "440545006";
/// The sections NRCES defines for OPConsultRecord; a section coded otherwise is one no consumer of the profile will read.
#[rustfmt::skip]
const OP_CONSULT_SECTIONS: &[&str] = &[
    "422843007", "425044008", "722446000", "371529009", "422432008", "721963009", "721912009", "390906007", "371525003", "306206005",
    "404684003", "371530004",
];
const XHTML_OPEN: &str = r#"<div xmlns="http://www.w3.org/1999/xhtml">"#;
/// txt-1: narrative is basic formatting only, so nothing active (scripts, forms, frames) can ride along in a health record.
#[rustfmt::skip]
const NARRATIVE_ELEMENTS: &[&str] = &[
    "a", "abbr", "acronym", "b", "big", "blockquote", "br", "caption", "cite", "code", "col", "colgroup", "dd", "dfn", "div", "dl", "dt",
    "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "q", "samp", "small",
    "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "ul", "var",
];
/// XML predefines only these; HTML names such as `&nbsp;` are undeclared in a FHIR div and break XML parsers.
const XML_ENTITIES: &[&str] = &["amp", "lt", "gt", "quot", "apos"];
/// Elements that are strings wherever they occur, beyond those with a format of their own.
const STRING_ELEMENTS: &[&str] = &["resourceType", "reference", "div", "id"];
const AUTHOR_TYPES: &[&str] = &["Practitioner", "PractitionerRole", "Organization", "Patient", "Device"];
const REQUESTER_TYPES: &[&str] = &["Practitioner", "PractitionerRole", "Organization"];

/// The NRCES document profile a Bundle is validated against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    OpConsultRecord,
    PrescriptionRecord,
}

impl Profile {
    /// The SNOMED CT code the profile fixes for `Composition.type`.
    fn type_code(self) -> &'static str {
        match self {
            Profile::OpConsultRecord => OP_CONSULT_CODE,
            Profile::PrescriptionRecord => PRESCRIPTION_CODE,
        }
    }
}

/// Every problem found, each a human-readable string naming the JSON path (e.g. "entry[2].resource.subject.reference: does not resolve").
pub fn validate_document(bundle: &Value, profile: Profile) -> Result<(), Vec<String>> {
    let mut report = Report::default();
    check_document(bundle, profile, "", &mut report);
    report.into_result()
}

/// A FHIR searchset Bundle whose entries' resources are document Bundles; validates the searchset shape and each document with
/// `profile_of` deciding the profile by the Composition type code.
pub fn validate_searchset(bundle: &Value) -> Result<(), Vec<String>> {
    let mut report = Report::default();
    let Some(root) = bundle.as_object() else {
        report.add("Bundle", "must be a JSON object");
        return report.into_result();
    };
    // Each document gets the element rules when it is validated; walking it here as well would report every problem twice.
    root.iter().filter(|(k, _)| *k != "entry").for_each(|(k, v)| walk_member(k, v, "", &mut report));
    bundle_header(root, "", "searchset", &mut report);
    let total = match root.get("total") {
        Some(t) if t.as_u64().is_some() => t.as_u64(),
        None => {
            report.add("total", "is required");
            None
        }
        Some(t) => {
            report.add("total", format!("{t} is not a non-negative integer"));
            None
        }
    };
    let entries = match root.get("entry") {
        None => &[][..],
        Some(Value::Array(items)) if items.is_empty() => {
            report.add("entry", "empty array (ele-1); leave it out when there are no matches");
            &[][..]
        }
        Some(Value::Array(items)) => items.as_slice(),
        Some(_) => {
            report.add("entry", "must be an array");
            &[][..]
        }
    };
    let mut full_urls = HashSet::new();
    for (i, entry) in entries.iter().enumerate() {
        let path = nth("entry", i);
        if let Some(url) = search_entry(entry, &path, &mut report)
            && !full_urls.insert(url)
        {
            report.add(&at(&path, "fullUrl"), format!("duplicate fullUrl {url}"));
        }
    }
    if let Some(total) = total {
        check_total(root, total, entries.len(), &mut report);
    }
    report.into_result()
}

/// Problems collected as "path: problem" lines.
#[derive(Default)]
struct Report(Vec<String>);

impl Report {
    fn add(&mut self, path: &str, problem: impl Display) {
        self.0.push(format!("{path}: {problem}"));
    }

    fn into_result(self) -> Result<(), Vec<String>> {
        if self.0.is_empty() { Ok(()) } else { Err(self.0) }
    }
}

fn at(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

fn nth(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// A top-level Bundle has an empty path; errors about it still need a name.
fn root_name(path: &str) -> &str {
    if path.is_empty() { "Bundle" } else { path }
}

// ---- searchset ----

const UNKNOWN_PROFILE: &str =
    "the type of its first entry's Composition is neither OPConsultRecord (SNOMED 371530004) nor PrescriptionRecord (SNOMED 440545006)";

/// One searchset entry: its own elements, then the document it carries. Returns its fullUrl for the uniqueness check.
fn search_entry<'v>(entry: &'v Value, path: &str, report: &mut Report) -> Option<&'v str> {
    let Some(e) = entry.as_object() else {
        report.add(path, "must be an object");
        return None;
    };
    e.iter().filter(|(k, _)| *k != "resource").for_each(|(k, v)| walk_member(k, v, path, report));
    if let Some(search) = e.get("search").and_then(Value::as_object) {
        one_of(search, "mode", &at(path, "search"), &["match", "include", "outcome"], false, report);
    }
    let full_url = string(e, "fullUrl", path, true, report);
    let document = single(e, "resource", path, true, report)?;
    let doc_path = at(path, "resource");
    if let Some(url) = full_url {
        check_full_url(url, document, &at(path, "fullUrl"), report);
    }
    match profile_of(&entry["resource"]) {
        Some(profile) => check_document(&entry["resource"], profile, &doc_path, report),
        None => report.add(&doc_path, UNKNOWN_PROFILE),
    }
    full_url
}

/// The profile a document claims through its Composition's type.
fn profile_of(document: &Value) -> Option<Profile> {
    let kind = document.get("entry")?.get(0)?.get("resource")?.get("type")?.as_object()?;
    let codes = snomed_codes(kind);
    [Profile::OpConsultRecord, Profile::PrescriptionRecord].into_iter().find(|p| codes.contains(&p.type_code()))
}

/// `total` counts all matches; only a paged searchset (one with a `next` link) may carry fewer entries than that.
fn check_total(root: &Object, total: u64, count: usize, report: &mut Report) {
    let links = root.get("link").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let paged = links.iter().any(|l| l.get("relation").and_then(Value::as_str) == Some("next"));
    let count = count as u64;
    if total < count || (!paged && total != count) {
        report.add("total", format!("is {total} but the Bundle carries {count} entries"));
    }
}

// ---- document Bundle ----

/// Checks one document Bundle, naming paths under `base` (empty at the top, `entry[i].resource` inside a searchset).
fn check_document(bundle: &Value, profile: Profile, base: &str, report: &mut Report) {
    let Some(root) = bundle.as_object() else {
        report.add(root_name(base), "must be a JSON object");
        return;
    };
    root.iter().for_each(|(k, v)| walk_member(k, v, base, report));
    bundle_header(root, base, "document", report);
    // bdl-9 and bdl-10: a document is identified once and for all, and stamped with when it was assembled.
    if let Some(identifier) = single(root, "identifier", base, true, report) {
        let path = at(base, "identifier");
        string(identifier, "system", &path, true, report);
        string(identifier, "value", &path, true, report);
    }
    string(root, "timestamp", base, true, report);
    if root.contains_key("total") {
        report.add(&at(base, "total"), "only searchset and history Bundles carry total (bdl-1)");
    }
    let doc = Doc::index(root, base, report);
    let links = doc.links(report);
    doc.orphans(&links, report);
    doc.resources(profile, report);
}

fn bundle_header(bundle: &Object, base: &str, kind: &str, report: &mut Report) {
    if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        report.add(&at(base, "resourceType"), "must be \"Bundle\"");
    }
    if bundle.get("type").and_then(Value::as_str) != Some(kind) {
        report.add(&at(base, "type"), format!("must be \"{kind}\""));
    }
    check_id(bundle, base, report);
}

struct Entry<'a> {
    index: usize,
    path: String,
    kind: &'a str,
    resource: &'a Object,
}

/// The entries of a document and what each fullUrl (or `Type/id`) resolves to.
struct Doc<'a> {
    entries: Vec<Entry<'a>>,
    by_url: HashMap<String, usize>,
}

impl<'a> Doc<'a> {
    fn index(bundle: &'a Object, base: &str, report: &mut Report) -> Self {
        let mut doc = Doc { entries: Vec::new(), by_url: HashMap::new() };
        let entries_path = at(base, "entry");
        for (index, raw) in list(bundle, "entry", base, true, report).iter().enumerate() {
            let path = nth(&entries_path, index);
            match raw.as_object() {
                Some(e) => doc.add_entry(index, e, &path, report),
                None => report.add(&path, "must be an object"),
            }
        }
        doc
    }

    fn add_entry(&mut self, index: usize, e: &'a Object, path: &str, report: &mut Report) {
        for key in ["search", "request", "response"] {
            if e.contains_key(key) {
                report.add(&at(path, key), "is not allowed in a document Bundle (bdl-2, bdl-3, bdl-4)");
            }
        }
        let full_url = string(e, "fullUrl", path, true, report);
        let Some(resource) = single(e, "resource", path, true, report) else { return };
        let res_path = at(path, "resource");
        let Some(kind) = resource_type(resource, &res_path, report) else { return };
        if index == 0 && kind != "Composition" {
            report.add(&res_path, format!("the first entry must be the Composition (bdl-11), not a {kind}"));
        }
        let pos = self.entries.len();
        if let Some(url) = full_url {
            check_full_url(url, resource, &at(path, "fullUrl"), report);
            if self.by_url.insert(url.to_owned(), pos).is_some() {
                report.add(&at(path, "fullUrl"), format!("duplicate fullUrl {url} (bdl-7)"));
            }
        }
        if let Some(id) = resource.get("id").and_then(Value::as_str) {
            let alias = format!("{kind}/{id}");
            match self.by_url.get(&alias) {
                Some(&other) if other != pos => report.add(&res_path, format!("{alias} is also {}", self.entries[other].path)),
                _ => {
                    self.by_url.insert(alias, pos);
                }
            }
        }
        self.entries.push(Entry { index, path: res_path, kind, resource });
    }

    /// Resolves every `reference` inside every entry; the result lists, per entry, the entries it points at.
    fn links(&self, report: &mut Report) -> Vec<Vec<usize>> {
        let mut links = vec![Vec::new(); self.entries.len()];
        for (pos, e) in self.entries.iter().enumerate() {
            let mut found = Vec::new();
            e.resource.iter().for_each(|(k, v)| collect_references(v, at(&e.path, k), &mut found));
            for (path, target) in found {
                match self.by_url.get(target) {
                    Some(&t) => links[pos].push(t),
                    None => report.add(&path, format!("does not resolve to an entry of the Bundle ({target})")),
                }
            }
        }
        links
    }

    /// A document is what its Composition says; an entry nothing leads to is content no reader of the document will see.
    fn orphans(&self, links: &[Vec<usize>], report: &mut Report) {
        let Some(start) = self.entries.iter().position(|e| e.index == 0 && e.kind == "Composition") else { return };
        let mut seen = vec![false; self.entries.len()];
        seen[start] = true;
        let mut queue = VecDeque::from([start]);
        while let Some(current) = queue.pop_front() {
            for &next in &links[current] {
                if !std::mem::replace(&mut seen[next], true) {
                    queue.push_back(next);
                }
            }
        }
        for (e, _) in self.entries.iter().zip(&seen).filter(|(_, seen)| !**seen) {
            report.add(&e.path, "is not referenced from the Composition, directly or through other entries");
        }
    }

    fn resources(&self, profile: Profile, report: &mut Report) {
        for e in &self.entries {
            let (r, p) = (e.resource, e.path.as_str());
            check_id(r, p, report);
            match e.kind {
                "Composition" if e.index == 0 => self.composition(r, p, profile, report),
                "Composition" => report.add(p, "a document has one Composition, its first entry"),
                "Patient" => patient(r, p, report),
                "Practitioner" => practitioner(r, p, report),
                "Organization" => {
                    string(r, "name", p, true, report);
                }
                "Encounter" => self.encounter(r, p, report),
                "Condition" => self.condition(r, p, report),
                "MedicationRequest" => self.medication_request(r, p, report),
                "Observation" => self.observation(r, p, report),
                "ServiceRequest" => self.service_request(r, p, report),
                "Appointment" => self.appointment(r, p, report),
                "AllergyIntolerance" => self.allergy(r, p, report),
                "DocumentReference" => self.document_reference(r, p, report),
                "Binary" => {
                    string(r, "contentType", p, true, report);
                }
                other => report.add(p, format!("unexpected resource type {other}")),
            }
        }
    }

    fn target_kind(&self, reference: &Value) -> Option<&'a str> {
        let target = reference.get("reference")?.as_str()?;
        self.by_url.get(target).map(|&t| self.entries[t].kind)
    }

    /// A Reference's shape, and when `kinds` is not empty, that it points at an entry of one of those types.
    fn reference(&self, value: &Value, path: &str, kinds: &[&str], report: &mut Report) {
        let Some(r) = value.as_object() else {
            report.add(path, if value.is_array() { "must be a single Reference, not an array" } else { "must be a Reference object" });
            return;
        };
        if !["reference", "identifier", "display"].iter().any(|k| r.contains_key(*k)) {
            report.add(path, "a Reference needs reference, identifier or display");
            return;
        }
        if kinds.is_empty() {
            return;
        }
        if !r.get("reference").is_some_and(Value::is_string) {
            report.add(&at(path, "reference"), format!("is required: must point at a {} entry", kinds.join(" or ")));
        } else if let Some(kind) = self.target_kind(value)
            && !kinds.contains(&kind)
        {
            // An unresolvable reference was already reported when the links were traced.
            report.add(&at(path, "reference"), format!("refers to a {kind}, expected {}", kinds.join(" or ")));
        }
    }

    fn expect_ref(&self, owner: &Object, key: &str, path: &str, kinds: &[&str], required: bool, report: &mut Report) {
        match owner.get(key) {
            Some(v) => self.reference(v, &at(path, key), kinds, report),
            None if required => report.add(&at(path, key), "is required"),
            None => {}
        }
    }

    fn expect_refs(&self, owner: &Object, key: &str, path: &str, kinds: &[&str], required: bool, report: &mut Report) {
        let list_path = at(path, key);
        for (i, v) in list(owner, key, path, required, report).iter().enumerate() {
            self.reference(v, &nth(&list_path, i), kinds, report);
        }
    }

    fn composition(&self, r: &Object, p: &str, profile: Profile, report: &mut Report) {
        one_of(r, "status", p, &["preliminary", "final", "amended", "entered-in-error"], true, report);
        if let Some(kind) = concept(r, "type", p, true, report)
            && !snomed_codes(kind).contains(&profile.type_code())
        {
            report.add(&at(p, "type"), format!("must carry SNOMED CT {} for {profile:?}", profile.type_code()));
        }
        self.expect_ref(r, "subject", p, &["Patient"], true, report);
        string(r, "date", p, true, report);
        self.expect_refs(r, "author", p, AUTHOR_TYPES, true, report);
        string(r, "title", p, true, report);
        self.expect_ref(r, "encounter", p, &["Encounter"], false, report);
        self.expect_ref(r, "custodian", p, &["Organization"], false, report);
        let sections = list(r, "section", p, false, report);
        let sections_path = at(p, "section");
        for (i, s) in sections.iter().enumerate() {
            self.section(s, &nth(&sections_path, i), report);
        }
        match profile {
            Profile::OpConsultRecord => op_consult_sections(sections, &sections_path, report),
            Profile::PrescriptionRecord => self.prescription_section(sections, &sections_path, report),
        }
    }

    /// cmp-1, cmp-2, and the NRCES rule that every section is coded in SNOMED CT.
    fn section(&self, value: &Value, p: &str, report: &mut Report) {
        let Some(s) = value.as_object() else {
            report.add(p, "must be an object");
            return;
        };
        string(s, "title", p, true, report);
        if let Some(code) = concept(s, "code", p, true, report)
            && snomed_codes(code).is_empty()
        {
            report.add(&at(p, "code"), "needs a SNOMED CT coding");
        }
        if !["text", "entry", "section"].iter().any(|k| s.contains_key(*k)) {
            report.add(p, "a section needs text, entries or sub-sections (cmp-1)");
        }
        if s.contains_key("emptyReason") && s.contains_key("entry") {
            report.add(&at(p, "emptyReason"), "is only allowed when the section has no entries (cmp-2)");
        }
        self.expect_refs(s, "entry", p, &[], false, report);
        let nested = at(p, "section");
        for (i, sub) in list(s, "section", p, false, report).iter().enumerate() {
            self.section(sub, &nth(&nested, i), report);
        }
    }

    fn prescription_section(&self, sections: &[Value], path: &str, report: &mut Report) {
        if sections.len() != 1 {
            report.add(path, format!("a PrescriptionRecord has exactly one section, not {}", sections.len()));
        }
        let Some(section) = sections.first().and_then(Value::as_object) else { return };
        let p = nth(path, 0);
        if !section.get("code").and_then(Value::as_object).is_some_and(|c| snomed_codes(c).contains(&PRESCRIPTION_CODE)) {
            report.add(&at(&p, "code"), format!("must be SNOMED CT {PRESCRIPTION_CODE}"));
        }
        let entries = section.get("entry").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        let kinds: Vec<_> = entries.iter().map(|e| self.target_kind(e)).collect();
        for (i, kind) in kinds.iter().enumerate() {
            if let Some(kind) = kind.filter(|k| !["MedicationRequest", "Binary"].contains(k)) {
                report.add(&format!("{p}.entry[{i}].reference"), format!("refers to a {kind}, expected MedicationRequest or Binary"));
            }
        }
        if !kinds.contains(&Some("MedicationRequest")) {
            report.add(&at(&p, "entry"), "must reference at least one MedicationRequest");
        }
    }

    fn encounter(&self, r: &Object, p: &str, report: &mut Report) {
        let statuses = ["planned", "arrived", "triaged", "in-progress", "onleave", "finished", "cancelled", "entered-in-error", "unknown"];
        one_of(r, "status", p, &statuses, true, report);
        if let Some(class) = single(r, "class", p, true, report) {
            coding_parts(class, &at(p, "class"), report);
        }
        self.expect_ref(r, "subject", p, &["Patient"], true, report);
        for (path, diagnosis) in objects(r, "diagnosis", p, false, report) {
            self.expect_ref(diagnosis, "condition", &path, &["Condition"], true, report);
        }
        self.expect_ref(r, "serviceProvider", p, &["Organization"], false, report);
    }

    fn condition(&self, r: &Object, p: &str, report: &mut Report) {
        self.expect_ref(r, "subject", p, &["Patient"], true, report);
        concept(r, "code", p, true, report);
        concept(r, "clinicalStatus", p, false, report);
        concept(r, "verificationStatus", p, false, report);
        self.expect_ref(r, "encounter", p, &["Encounter"], false, report);
    }

    fn medication_request(&self, r: &Object, p: &str, report: &mut Report) {
        let statuses = ["active", "on-hold", "cancelled", "completed", "entered-in-error", "stopped", "draft", "unknown"];
        one_of(r, "status", p, &statuses, true, report);
        let intents = ["proposal", "plan", "order", "original-order", "reflex-order", "filler-order", "instance-order", "option"];
        one_of(r, "intent", p, &intents, true, report);
        match (r.contains_key("medicationCodeableConcept"), r.contains_key("medicationReference")) {
            (true, true) => report.add(&at(p, "medication[x]"), "has both medicationCodeableConcept and medicationReference"),
            (false, false) => report.add(&at(p, "medication[x]"), "is required (medicationCodeableConcept or medicationReference)"),
            (true, false) => {
                concept(r, "medicationCodeableConcept", p, true, report);
            }
            (false, true) => self.expect_ref(r, "medicationReference", p, &["Medication"], true, report),
        }
        self.expect_ref(r, "subject", p, &["Patient"], true, report);
        string(r, "authoredOn", p, true, report);
        self.expect_ref(r, "requester", p, REQUESTER_TYPES, true, report);
        self.expect_ref(r, "encounter", p, &["Encounter"], false, report);
        self.expect_refs(r, "reasonReference", p, &["Condition", "Observation"], false, report);
        let dosages = at(p, "dosageInstruction");
        for (i, dosage) in list(r, "dosageInstruction", p, true, report).iter().enumerate() {
            if !["text", "timing", "doseAndRate"].iter().any(|k| dosage.get(k).is_some()) {
                report.add(&nth(&dosages, i), "a Dosage needs text, timing or doseAndRate");
            }
        }
        let Some(dispense) = single(r, "dispenseRequest", p, false, report) else { return };
        let dispense_path = at(p, "dispenseRequest");
        if let Some(quantity) = single(dispense, "quantity", &dispense_path, false, report)
            && let Some(value) = quantity.get("value")
            && !value.as_f64().is_some_and(|v| v > 0.0)
        {
            report.add(&format!("{dispense_path}.quantity.value"), format!("{value} is not a positive number"));
        }
        self.expect_ref(dispense, "performer", &dispense_path, &["Organization"], false, report);
    }

    fn observation(&self, r: &Object, p: &str, report: &mut Report) {
        let statuses = ["registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown"];
        one_of(r, "status", p, &statuses, true, report);
        concept(r, "code", p, true, report);
        self.expect_ref(r, "subject", p, &["Patient"], false, report);
        self.expect_ref(r, "encounter", p, &["Encounter"], false, report);
    }

    fn service_request(&self, r: &Object, p: &str, report: &mut Report) {
        let statuses = ["draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"];
        one_of(r, "status", p, &statuses, true, report);
        let intents =
            ["proposal", "plan", "directive", "order", "original-order", "reflex-order", "filler-order", "instance-order", "option"];
        one_of(r, "intent", p, &intents, true, report);
        self.expect_ref(r, "subject", p, &["Patient"], true, report);
        concept(r, "code", p, false, report);
        self.expect_ref(r, "requester", p, REQUESTER_TYPES, false, report);
        self.expect_ref(r, "encounter", p, &["Encounter"], false, report);
    }

    fn appointment(&self, r: &Object, p: &str, report: &mut Report) {
        let statuses =
            ["proposed", "pending", "booked", "arrived", "fulfilled", "cancelled", "noshow", "entered-in-error", "checked-in", "waitlist"];
        one_of(r, "status", p, &statuses, true, report);
        for (path, participant) in objects(r, "participant", p, true, report) {
            one_of(participant, "status", &path, &["accepted", "declined", "tentative", "needs-action"], true, report);
            self.expect_ref(participant, "actor", &path, &[], false, report);
        }
    }

    fn allergy(&self, r: &Object, p: &str, report: &mut Report) {
        self.expect_ref(r, "patient", p, &["Patient"], true, report);
        concept(r, "code", p, false, report);
        concept(r, "clinicalStatus", p, false, report);
    }

    fn document_reference(&self, r: &Object, p: &str, report: &mut Report) {
        one_of(r, "status", p, &["current", "superseded", "entered-in-error"], true, report);
        for (path, content) in objects(r, "content", p, true, report) {
            single(content, "attachment", &path, true, report);
        }
        self.expect_ref(r, "subject", p, &["Patient"], false, report);
    }
}

fn op_consult_sections(sections: &[Value], path: &str, report: &mut Report) {
    if sections.is_empty() {
        report.add(path, "an OPConsultRecord needs at least one section");
    }
    for (i, s) in sections.iter().enumerate() {
        let codes = s.get("code").and_then(Value::as_object).map(snomed_codes).unwrap_or_default();
        if !codes.is_empty() && !codes.iter().any(|c| OP_CONSULT_SECTIONS.contains(c)) {
            report.add(&format!("{path}[{i}].code"), format!("{} is not an OPConsultRecord section code", codes.join(", ")));
        }
    }
}

fn patient(r: &Object, p: &str, report: &mut Report) {
    identified_by(r, p, HEALTH_ID_SYSTEM, report);
    human_names(r, p, report);
    one_of(r, "gender", p, &["male", "female", "other", "unknown"], false, report);
}

fn practitioner(r: &Object, p: &str, report: &mut Report) {
    identified_by(r, p, DOCTOR_SYSTEM, report);
    human_names(r, p, report);
}

/// NDHM identifies patients and doctors by their national registries; any other identifier alone does not link the record.
fn identified_by(r: &Object, p: &str, system: &str, report: &mut Report) {
    let identifiers = list(r, "identifier", p, true, report);
    let found = identifiers.iter().any(|id| {
        id.get("system").and_then(Value::as_str) == Some(system)
            && id.get("value").and_then(Value::as_str).is_some_and(|v| !v.trim().is_empty())
    });
    if !identifiers.is_empty() && !found {
        report.add(&at(p, "identifier"), format!("needs an identifier with system {system} and a value"));
    }
}

fn human_names(r: &Object, p: &str, report: &mut Report) {
    let names = at(p, "name");
    for (i, name) in list(r, "name", p, true, report).iter().enumerate() {
        if !["text", "family", "given"].iter().any(|k| name.get(k).is_some()) {
            report.add(&nth(&names, i), "a HumanName needs text, family or given");
        }
    }
}

// ---- elements ----

/// ele-1 and FHIR's JSON rules on every element (no nulls, nothing empty), plus the primitive types FHIR fixes by element name.
fn walk(value: &Value, path: &str, report: &mut Report) {
    match value {
        Value::Null => report.add(path, "null is not allowed in FHIR JSON"),
        Value::String(s) if s.trim().is_empty() => report.add(path, "empty or whitespace-only string"),
        Value::Array(items) if items.is_empty() => report.add(path, "empty array (ele-1)"),
        Value::Object(map) if map.is_empty() => report.add(path, "empty object (ele-1)"),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if item.is_array() {
                    report.add(&nth(path, i), "arrays do not nest in FHIR JSON");
                }
                walk(item, &nth(path, i), report);
            }
        }
        Value::Object(map) => map.iter().for_each(|(k, v)| walk_member(k, v, path, report)),
        Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}

fn walk_member(key: &str, value: &Value, parent: &str, report: &mut Report) {
    let path = at(parent, key);
    known_element(key, value, &path, report);
    walk(value, &path, report);
}

/// A primitive type's check, and how to name the type in an error.
type Format = (fn(&str) -> bool, &'static str);

/// Elements whose type is the same wherever they occur in the resources a document carries.
fn known_element(key: &str, value: &Value, path: &str, report: &mut Report) {
    let format: Option<Format> = match key {
        "system" | "url" | "fullUrl" => Some((is_uri, "a uri (no whitespace)")),
        "code" | "language" | "contentType" if !value.is_object() => Some((is_code, "a code (no surrounding or doubled whitespace)")),
        "lastUpdated" | "timestamp" | "issued" => Some((is_instant, "an instant (YYYY-MM-DDThh:mm:ss with a time zone)")),
        "date" | "authoredOn" | "recordedDate" | "onsetDateTime" | "effectiveDateTime" | "occurrenceDateTime" | "start" | "end" => {
            Some((is_datetime, "a dateTime (YYYY, YYYY-MM, YYYY-MM-DD or a full date-time with time zone)"))
        }
        "birthDate" => Some((is_date, "a date (YYYY, YYYY-MM or YYYY-MM-DD)")),
        _ => None,
    };
    match (format, value.as_str()) {
        // Empty strings are the walk's to report.
        (Some((valid, what)), Some(s)) if !s.trim().is_empty() && !valid(s) => report.add(path, format!("{s:?} is not {what}")),
        (Some(_), None) => report.add(path, "must be a string"),
        (None, None) if STRING_ELEMENTS.contains(&key) => report.add(path, "must be a string"),
        _ => {}
    }
    match (key, value) {
        ("profile", Value::Array(items)) => {
            for (i, s) in items.iter().enumerate().filter_map(|(i, v)| Some((i, v.as_str()?))) {
                if !is_uri(s) {
                    report.add(&nth(path, i), format!("{s:?} is not a canonical uri"));
                }
            }
        }
        ("coding", Value::Array(items)) => {
            for (i, coding) in items.iter().enumerate() {
                match coding.as_object() {
                    Some(coding) => coding_parts(coding, &nth(path, i), report),
                    None => report.add(&nth(path, i), "must be a Coding object"),
                }
            }
        }
        ("coding", _) => report.add(path, "must be an array of Coding"),
        ("text", Value::Object(narrative)) => check_narrative(narrative, path, report),
        _ => {}
    }
}

/// A code without its system means nothing to a receiver, so both are required (formats are checked by the walk).
fn coding_parts(coding: &Object, path: &str, report: &mut Report) {
    string(coding, "system", path, true, report);
    string(coding, "code", path, true, report);
}

fn check_narrative(narrative: &Object, path: &str, report: &mut Report) {
    one_of(narrative, "status", path, &["generated", "extensions", "additional", "empty"], true, report);
    if let Some(div) = string(narrative, "div", path, true, report)
        && let Err(problem) = check_div(div)
    {
        report.add(&at(path, "div"), problem);
    }
}

fn check_id(resource: &Object, path: &str, report: &mut Report) {
    if let Some(id) = resource.get("id").and_then(Value::as_str).filter(|id| !is_id(id)) {
        report.add(&at(path, "id"), format!("{id:?} is not a FHIR id ([A-Za-z0-9-.]{{1,64}})"));
    }
}

fn resource_type<'v>(resource: &'v Object, path: &str, report: &mut Report) -> Option<&'v str> {
    let kind = resource.get("resourceType").and_then(Value::as_str);
    if kind.is_none() {
        report.add(&at(path, "resourceType"), "is required on every resource");
    }
    kind
}

/// bdl-8 and the document rules: a fullUrl is a UUID URN or the absolute RESTful URL of the very resource it carries.
fn check_full_url(url: &str, resource: &Object, path: &str, report: &mut Report) {
    let kind = resource.get("resourceType").and_then(Value::as_str).unwrap_or_default();
    let id = resource.get("id").and_then(Value::as_str);
    if let Some(uuid) = url.strip_prefix("urn:uuid:") {
        if !uuid::Uuid::parse_str(uuid).is_ok_and(|u| u.hyphenated().to_string() == uuid) {
            report.add(path, format!("{url} does not carry a lowercase hyphenated UUID"));
        }
        if let Some(id) = id.filter(|id| *id != uuid) {
            report.add(path, format!("{url} does not match the resource id {id}"));
        }
    } else if url.starts_with("https://") || url.starts_with("http://") {
        match id {
            Some(id) if url.ends_with(&format!("/{kind}/{id}")) => {}
            Some(id) => report.add(path, format!("{url} does not end with /{kind}/{id}")),
            None => report.add(path, format!("{url} is a RESTful URL but the resource carries no id")),
        }
    } else {
        report.add(path, format!("{url} is neither urn:uuid:<uuid> nor an absolute URL"));
    }
}

fn collect_references<'v>(value: &'v Value, path: String, out: &mut Vec<(String, &'v str)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v.as_str()) {
                    ("reference", Some(target)) => out.push((at(&path, k), target)),
                    _ => collect_references(v, at(&path, k), out),
                }
            }
        }
        Value::Array(items) => items.iter().enumerate().for_each(|(i, v)| collect_references(v, nth(&path, i), out)),
        _ => {}
    }
}

// ---- element accessors: each reports a missing required element or the wrong JSON shape ----

fn single<'v>(owner: &'v Object, key: &str, path: &str, required: bool, report: &mut Report) -> Option<&'v Object> {
    let problem = match owner.get(key) {
        Some(Value::Object(map)) => return Some(map),
        Some(Value::Array(_)) => "must be a single object, not an array",
        Some(_) => "must be an object",
        None if required => "is required",
        None => return None,
    };
    report.add(&at(path, key), problem);
    None
}

/// Repeating elements are always arrays in FHIR JSON, even with one item.
fn list<'v>(owner: &'v Object, key: &str, path: &str, required: bool, report: &mut Report) -> &'v [Value] {
    let problem = match owner.get(key) {
        Some(Value::Array(items)) => return items,
        Some(_) => "must be an array",
        None if required => "is required",
        None => return &[],
    };
    report.add(&at(path, key), problem);
    &[]
}

/// The items of a repeating element of objects, each with its path; any other item is reported.
fn objects<'v>(owner: &'v Object, key: &str, path: &str, required: bool, report: &mut Report) -> Vec<(String, &'v Object)> {
    let list_path = at(path, key);
    let mut found = Vec::new();
    for (i, item) in list(owner, key, path, required, report).iter().enumerate() {
        match item.as_object() {
            Some(object) => found.push((nth(&list_path, i), object)),
            None => report.add(&nth(&list_path, i), "must be an object"),
        }
    }
    found
}

fn string<'v>(owner: &'v Object, key: &str, path: &str, required: bool, report: &mut Report) -> Option<&'v str> {
    let problem = match owner.get(key) {
        Some(Value::String(s)) => return Some(s),
        Some(_) => "must be a string",
        None if required => "is required",
        None => return None,
    };
    report.add(&at(path, key), problem);
    None
}

fn one_of(owner: &Object, key: &str, path: &str, allowed: &[&str], required: bool, report: &mut Report) {
    if let Some(value) = string(owner, key, path, required, report).filter(|v| !allowed.contains(v)) {
        report.add(&at(path, key), format!("{value:?} is not one of {}", allowed.join("|")));
    }
}

fn concept<'v>(owner: &'v Object, key: &str, path: &str, required: bool, report: &mut Report) -> Option<&'v Object> {
    let concept = single(owner, key, path, required, report)?;
    if !concept.contains_key("coding") && !concept.contains_key("text") {
        report.add(&at(path, key), "a CodeableConcept needs coding or text");
    }
    Some(concept)
}

fn snomed_codes(concept: &Object) -> Vec<&str> {
    let codings = concept.get("coding").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    codings
        .iter()
        .filter(|c| c.get("system").and_then(Value::as_str) == Some(SNOMED))
        .filter_map(|c| c.get("code").and_then(Value::as_str))
        .collect()
}

// ---- primitive formats ----

fn is_id(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

fn is_code(s: &str) -> bool {
    s.split(' ').all(|word| !word.is_empty() && !word.contains(char::is_whitespace))
}

fn is_uri(s: &str) -> bool {
    !s.is_empty() && !s.contains(char::is_whitespace)
}

/// Exactly `width` ASCII digits.
fn digits(s: &str, width: usize) -> Option<u32> {
    (s.len() == width && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

/// YYYY, YYYY-MM or YYYY-MM-DD, each part a real calendar value (FHIR has no year 0000).
fn is_date(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let Some(year) = digits(parts[0], 4).filter(|y| *y > 0) else { return false };
    let month = parts.get(1).map(|m| digits(m, 2).and_then(|m| time::Month::try_from(m as u8).ok()));
    match (parts.len(), month, parts.get(2)) {
        (1, _, _) => true,
        (2, Some(Some(_)), _) => true,
        (3, Some(Some(month)), Some(day)) => {
            digits(day, 2).is_some_and(|d| time::Date::from_calendar_date(year as i32, month, d as u8).is_ok())
        }
        _ => false,
    }
}

/// hh:mm:ss[.fraction] followed by Z or an offset no further than ±14:00.
fn is_time_with_zone(s: &str) -> bool {
    // Slicing below counts bytes, which is only safe on ASCII; any other character is invalid anyway.
    if !s.is_ascii() {
        return false;
    }
    let (clock, zone) = match s.strip_suffix('Z') {
        Some(clock) => (clock, None),
        None if s.len() > 6 => (&s[..s.len() - 6], Some(&s[s.len() - 6..])),
        None => return false,
    };
    let zone_ok = zone.is_none_or(|z| {
        let (sign, hh, mm) = (&z[..1], digits(&z[1..3], 2), digits(&z[4..], 2));
        (sign == "+" || sign == "-") && &z[3..4] == ":" && matches!((hh, mm), (Some(0..=13), Some(0..=59)) | (Some(14), Some(0)))
    });
    let (whole, fraction) = clock.split_once('.').unwrap_or((clock, "1"));
    let fraction_ok = !fraction.is_empty() && fraction.bytes().all(|b| b.is_ascii_digit());
    let fields: Vec<Option<u32>> = whole.split(':').map(|f| digits(f, 2)).collect();
    let clock_ok = matches!(fields.as_slice(), [Some(0..=23), Some(0..=59), Some(0..=60)]);
    zone_ok && fraction_ok && clock_ok
}

fn is_instant(s: &str) -> bool {
    s.split_once('T').is_some_and(|(date, time)| date.len() == 10 && is_date(date) && is_time_with_zone(time))
}

fn is_datetime(s: &str) -> bool {
    if s.contains('T') { is_instant(s) } else { is_date(s) }
}

// ---- narrative XHTML ----

fn check_div(div: &str) -> Result<(), String> {
    if !div.starts_with(XHTML_OPEN) || !div.ends_with("</div>") {
        return Err(format!("must be {XHTML_OPEN}...</div>"));
    }
    scan_markup(div)
}

/// Enough of an XML check to catch what goes wrong when text is pasted into markup: unescaped `<` and `&`, unbalanced or
/// disallowed tags, event-handler attributes, and content after the root element.
fn scan_markup(div: &str) -> Result<(), String> {
    let mut open: Vec<&str> = Vec::new();
    let mut rest = div;
    while let Some(pos) = rest.find(['<', '&']) {
        let tail = &rest[pos..];
        if tail.starts_with('&') {
            rest = skip_entity(tail)?;
            continue;
        }
        let end = tag_end(tail).ok_or("unescaped '<' in text (write &lt;)")?;
        let tag = &tail[1..end];
        rest = &tail[end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let name = name.trim_end();
            match open.pop() {
                Some(top) if top == name => {}
                Some(top) => return Err(format!("</{name}> closes <{top}>")),
                None => return Err(format!("</{name}> closes nothing")),
            }
            if open.is_empty() && !rest.is_empty() {
                return Err("content after the closing </div>".to_owned());
            }
            continue;
        }
        let (body, self_closing) = tag.strip_suffix('/').map_or((tag, false), |b| (b, true));
        let name_len = body.find(|c: char| c.is_ascii_whitespace()).unwrap_or(body.len());
        let name = &body[..name_len];
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err("unescaped '<' in text (write &lt;)".to_owned());
        }
        if !NARRATIVE_ELEMENTS.contains(&name) {
            return Err(format!("<{name}> is not allowed in narrative (txt-1), or is an unescaped '<'"));
        }
        check_attributes(&body[name_len..])?;
        if !self_closing {
            open.push(name);
        }
    }
    match open.last() {
        Some(top) => Err(format!("<{top}> is never closed")),
        None => Ok(()),
    }
}

/// The index of the `>` ending the tag `tail` starts, ignoring any inside quoted attribute values; None when another `<`
/// comes first or nothing ends it, which means the first `<` was text.
fn tag_end(tail: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in tail.char_indices().skip(1) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => return Some(i),
            (None, '<') => return None,
            (None, _) => {}
        }
    }
    None
}

fn skip_entity(tail: &str) -> Result<&str, String> {
    let malformed = || "'&' must start an entity such as &amp; (escape a literal '&')".to_owned();
    let semi = tail.find(';').filter(|i| *i <= 12).ok_or_else(malformed)?;
    let name = &tail[1..semi];
    let numeric = match name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
        Some(hex) => !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        None => name.strip_prefix('#').is_some_and(|dec| !dec.is_empty() && dec.bytes().all(|b| b.is_ascii_digit())),
    };
    if numeric || XML_ENTITIES.contains(&name) { Ok(&tail[semi + 1..]) } else { Err(malformed()) }
}

/// XML attributes are `name="value"`; txt-3 forbids event handlers, and a `javascript:` URL is a script by another name.
fn check_attributes(mut attrs: &str) -> Result<(), String> {
    loop {
        attrs = attrs.trim_start();
        if attrs.is_empty() {
            return Ok(());
        }
        let eq = attrs.find('=').ok_or("an attribute without a value")?;
        let name = attrs[..eq].trim();
        let value = attrs[eq + 1..].trim_start();
        let quote = value.chars().next().filter(|c| *c == '"' || *c == '\'').ok_or("an unquoted attribute value")?;
        let close = value[1..].find(quote).ok_or("an unterminated attribute value")? + 1;
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(format!("a malformed attribute name {name:?}"));
        }
        if name.to_ascii_lowercase().starts_with("on") {
            return Err(format!("event attribute {name} is not allowed (txt-3)"));
        }
        if value[1..close].trim_start().to_ascii_lowercase().starts_with("javascript:") {
            return Err("a javascript: URL is not allowed".to_owned());
        }
        attrs = &value[close + 1..];
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const COMPOSITION: u8 = 1;
    const PATIENT: u8 = 2;
    const PRACTITIONER: u8 = 3;
    const ORGANIZATION: u8 = 4;
    const ENCOUNTER: u8 = 5;
    const CONDITION: u8 = 6;
    const MEDICATION_REQUEST: u8 = 7;

    fn uid(n: u8) -> String {
        format!("1b4e28ba-2fa1-4d2d-883f-0016d3cca4{n:02x}")
    }

    fn urn(n: u8) -> String {
        format!("urn:uuid:{}", uid(n))
    }

    fn to(n: u8) -> Value {
        json!({"reference": urn(n)})
    }

    fn entry(n: u8, mut resource: Value) -> Value {
        resource["id"] = json!(uid(n));
        json!({"fullUrl": urn(n), "resource": resource})
    }

    fn snomed(code: &str, display: &str) -> Value {
        json!({"coding": [{"system": SNOMED, "code": code, "display": display}], "text": display})
    }

    fn narrative(text: &str) -> Value {
        json!({"status": "generated", "div": format!("{XHTML_OPEN}<p>{text}</p></div>")})
    }

    /// The entries both profiles share, after the Composition.
    fn parties() -> Vec<Value> {
        vec![
            entry(
                PATIENT,
                json!({"resourceType": "Patient", "identifier": [{"system": HEALTH_ID_SYSTEM, "value": "91-4213-7358-1026"}],
                "name": [{"text": "Asha Verma"}], "gender": "female", "birthDate": "1990-05-17"}),
            ),
            entry(
                PRACTITIONER,
                json!({"resourceType": "Practitioner", "identifier": [{"system": DOCTOR_SYSTEM, "value": "71-2345-6789-0123"}],
                "name": [{"text": "Dr. Kavya Iyer", "family": "Iyer", "given": ["Kavya"]}]}),
            ),
            entry(
                ORGANIZATION,
                json!({"resourceType": "Organization", "name": "Test clinic",
                "identifier": [{"system": "https://facility.ndhm.gov.in", "value": "IN2910000001"}]}),
            ),
            entry(
                ENCOUNTER,
                json!({"resourceType": "Encounter", "status": "finished",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR", "display": "virtual"},
                "subject": to(PATIENT), "period": {"start": "2024-05-17T10:00:00+05:30", "end": "2024-05-17T10:15:00.250Z"},
                "diagnosis": [{"condition": to(CONDITION)}], "serviceProvider": to(ORGANIZATION)}),
            ),
            entry(
                CONDITION,
                json!({"resourceType": "Condition", "code": snomed("386661006", "Fever"), "subject": to(PATIENT),
                "encounter": to(ENCOUNTER), "recordedDate": "2024-05-17"}),
            ),
        ]
    }

    fn document(bundle_id: u8, type_code: &str, title: &str, sections: Value, extra: Vec<Value>) -> Value {
        let composition = json!({"resourceType": "Composition", "status": "final", "type": snomed(type_code, title),
            "subject": to(PATIENT), "encounter": to(ENCOUNTER), "date": "2024-05-17T10:15:00+05:30", "author": [to(PRACTITIONER)],
            "title": title, "custodian": to(ORGANIZATION), "section": sections, "text": narrative("Consultation of Asha Verma")});
        let mut entries = vec![entry(COMPOSITION, composition)];
        entries.extend(parties());
        entries.extend(extra);
        json!({"resourceType": "Bundle", "id": uid(bundle_id),
            "meta": {"lastUpdated": "2024-05-17T10:15:00+05:30",
                "profile": ["https://nrces.in/ndhm/fhir/r4/StructureDefinition/DocumentBundle"]},
            "identifier": {"system": "https://vaidya.example.in/documents", "value": uid(bundle_id)},
            "type": "document", "timestamp": "2024-05-17T10:15:00+05:30", "entry": entries})
    }

    fn op_consult() -> Value {
        let sections = json!([
            {"title": "Chief complaints", "code": snomed("422843007", "Chief complaint section"), "entry": [to(CONDITION)],
                "text": narrative("Fever for 3 days &amp; dry cough, temp &gt; 38&#176;C<br/>")},
            {"title": "Follow up", "code": snomed("390906007", "Follow-up encounter"), "text": narrative("Review in <b>5 days</b>")},
        ]);
        document(0x10, OP_CONSULT_CODE, "Consultation Report", sections, vec![])
    }

    fn prescription() -> Value {
        let sections =
            json!([{"title": "Prescription", "code": snomed(PRESCRIPTION_CODE, "Prescription record"), "entry": [to(MEDICATION_REQUEST)]}]);
        let request = entry(
            MEDICATION_REQUEST,
            json!({"resourceType": "MedicationRequest", "status": "active", "intent": "order",
            "medicationCodeableConcept": {"text": "Paracetamol 500 mg tablet"}, "subject": to(PATIENT), "encounter": to(ENCOUNTER),
            "authoredOn": "2024-05-17T10:20:00+05:30", "requester": to(PRACTITIONER), "reasonReference": [to(CONDITION)],
            "dosageInstruction": [{"text": "1 tablet every 6 hours after food for 3 days",
                "timing": {"repeat": {"frequency": 4, "period": 1, "periodUnit": "d"}}}],
            "dispenseRequest": {"quantity": {"value": 10, "unit": "tablet"}, "performer": to(ORGANIZATION)}}),
        );
        document(0x11, PRESCRIPTION_CODE, "Prescription record", sections, vec![request])
    }

    fn searchset(documents: Vec<Value>) -> Value {
        let entries: Vec<Value> = documents
            .into_iter()
            .map(|d| {
                let url = format!("https://vaidya.example.in/fhir/Bundle/{}", d["id"].as_str().unwrap());
                json!({"fullUrl": url, "resource": d, "search": {"mode": "match"}})
            })
            .collect();
        json!({"resourceType": "Bundle", "type": "searchset", "total": entries.len(), "entry": entries})
    }

    fn resource(doc: &mut Value, entry: usize) -> &mut Object {
        doc["entry"][entry]["resource"].as_object_mut().unwrap()
    }

    /// Asserts `doc` fails `profile` with an error that starts with `path` and mentions `problem`.
    #[track_caller]
    fn assert_error(doc: &Value, profile: Profile, path: &str, problem: &str) {
        let errors = validate_document(doc, profile).expect_err("the document should be invalid");
        assert_found(&errors, path, problem);
    }

    #[track_caller]
    fn assert_found(errors: &[String], path: &str, problem: &str) {
        let wanted = format!("{path}: ");
        let found = errors.iter().any(|e| e.starts_with(&wanted) && e.contains(problem));
        assert!(found, "expected an error at {path} mentioning {problem:?}, got {errors:#?}");
    }

    #[test]
    fn a_correct_op_consult_record_passes() {
        assert_eq!(validate_document(&op_consult(), Profile::OpConsultRecord), Ok(()));
    }

    #[test]
    fn a_correct_prescription_record_passes() {
        assert_eq!(validate_document(&prescription(), Profile::PrescriptionRecord), Ok(()));
    }

    #[test]
    fn a_document_is_checked_against_the_profile_it_is_validated_as() {
        assert_error(&op_consult(), Profile::PrescriptionRecord, "entry[0].resource.type", "440545006");
        assert_error(&prescription(), Profile::OpConsultRecord, "entry[0].resource.section[0].code", "not an OPConsultRecord section");
    }

    #[test]
    fn the_composition_must_come_first() {
        let mut doc = op_consult();
        doc["entry"].as_array_mut().unwrap().swap(0, 1);
        assert_error(&doc, Profile::OpConsultRecord, "entry[0].resource", "the first entry must be the Composition");
    }

    #[test]
    fn a_dangling_reference_is_reported() {
        let mut doc = op_consult();
        resource(&mut doc, 5).insert("subject".into(), to(0x99));
        assert_error(&doc, Profile::OpConsultRecord, "entry[5].resource.subject.reference", "does not resolve");
    }

    #[test]
    fn a_reference_to_the_wrong_type_is_reported() {
        let mut doc = op_consult();
        resource(&mut doc, 0).insert("subject".into(), to(PRACTITIONER));
        assert_error(&doc, Profile::OpConsultRecord, "entry[0].resource.subject.reference", "refers to a Practitioner, expected Patient");
    }

    #[test]
    fn full_urls_are_unique_and_match_their_resources() {
        let mut doc = op_consult();
        doc["entry"][5]["fullUrl"] = json!(urn(ENCOUNTER));
        assert_error(&doc, Profile::OpConsultRecord, "entry[5].fullUrl", "duplicate fullUrl");
        let mut doc = op_consult();
        doc["entry"][1]["fullUrl"] = json!("https://vaidya.example.in/fhir/Patient/someone-else");
        assert_error(&doc, Profile::OpConsultRecord, "entry[1].fullUrl", "does not end with /Patient/");
    }

    #[test]
    fn a_section_code_outside_the_profile_is_reported() {
        let mut doc = op_consult();
        resource(&mut doc, 0)["section"][1]["code"] = snomed("229059009", "Report");
        assert_error(&doc, Profile::OpConsultRecord, "entry[0].resource.section[1].code", "229059009 is not an OPConsultRecord section");
    }

    #[test]
    fn a_prescription_has_exactly_one_medication_section() {
        let mut doc = prescription();
        let second = json!({"title": "Notes", "code": snomed(PRESCRIPTION_CODE, "Prescription record"), "text": narrative("None")});
        resource(&mut doc, 0)["section"].as_array_mut().unwrap().push(second);
        assert_error(&doc, Profile::PrescriptionRecord, "entry[0].resource.section", "exactly one section, not 2");
    }

    #[test]
    fn empty_strings_nulls_and_empty_containers_are_reported() {
        let mut doc = op_consult();
        resource(&mut doc, 1)["name"][0]["text"] = json!("  ");
        resource(&mut doc, 4).insert("period".into(), Value::Null);
        resource(&mut doc, 0).insert("author".into(), json!([]));
        resource(&mut doc, 3).insert("telecom".into(), json!([{}]));
        let errors = validate_document(&doc, Profile::OpConsultRecord).unwrap_err();
        assert_found(&errors, "entry[1].resource.name[0].text", "empty or whitespace-only string");
        assert_found(&errors, "entry[4].resource.period", "null is not allowed");
        assert_found(&errors, "entry[0].resource.author", "empty array");
        assert_found(&errors, "entry[3].resource.telecom[0]", "empty object");
    }

    #[test]
    fn a_bad_date_time_is_reported() {
        let mut doc = op_consult();
        resource(&mut doc, 0).insert("date".into(), json!("2024-02-30"));
        resource(&mut doc, 4)["period"]["start"] = json!("2024-05-17T10:00");
        doc["timestamp"] = json!("2024-05-17");
        let errors = validate_document(&doc, Profile::OpConsultRecord).unwrap_err();
        assert_found(&errors, "entry[0].resource.date", "is not a dateTime");
        assert_found(&errors, "entry[4].resource.period.start", "is not a dateTime");
        assert_found(&errors, "timestamp", "is not an instant");
    }

    #[test]
    fn a_bad_id_is_reported() {
        let mut doc = op_consult();
        resource(&mut doc, 2).insert("id".into(), json!("dr kavya!"));
        assert_error(&doc, Profile::OpConsultRecord, "entry[2].resource.id", "is not a FHIR id");
    }

    #[test]
    fn unescaped_markup_in_a_narrative_is_reported() {
        let mut doc = op_consult();
        resource(&mut doc, 0)["section"][0]["text"] = narrative("BP < 140 & rising");
        assert_error(&doc, Profile::OpConsultRecord, "entry[0].resource.section[0].text.div", "unescaped '<'");
        resource(&mut doc, 0)["section"][0]["text"] = narrative("Salt & water");
        assert_error(&doc, Profile::OpConsultRecord, "entry[0].resource.section[0].text.div", "'&' must start an entity");
    }

    #[test]
    fn narrative_markup_is_checked() {
        let div = |inner: &str| format!("{XHTML_OPEN}{inner}</div>");
        assert_eq!(check_div(&div("<p>a<br/>b &lt; c &#x3E; d<br /></p><table><tr><td>1</td></tr></table>")), Ok(()));
        assert!(check_div(&div("<p>unclosed")).unwrap_err().contains("</div> closes <p>"));
        assert!(scan_markup("<div><p>").unwrap_err().contains("<p> is never closed"));
        assert!(check_div(&div("<p>a</b></p>")).unwrap_err().contains("</b> closes <p>"));
        assert!(check_div(&div("<script>alert(1)</script>")).unwrap_err().contains("<script> is not allowed"));
        assert!(check_div(&div(r#"<p onclick="x()">a</p>"#)).unwrap_err().contains("event attribute"));
        assert!(check_div(&div("a&nbsp;b")).unwrap_err().contains("entity"));
        assert!(check_div("<div>no namespace</div>").unwrap_err().contains("must be"));
        assert!(check_div(&format!("{XHTML_OPEN}a</div><div>b</div>")).unwrap_err().contains("after the closing"));
    }

    #[test]
    fn primitive_formats_follow_fhir() {
        for good in ["2024", "2024-05", "2024-02-29", "2024-05-17T10:15:00Z", "2024-05-17T10:15:00.123+05:30", "2024-05-17T23:59:60-14:00"]
        {
            assert!(is_datetime(good), "{good} is a dateTime");
        }
        for bad in [
            "24",
            "0000",
            "2024-5",
            "2023-02-29",
            "2024-05-17T10:15",
            "2024-05-17T10:15:00",
            "2024-05-17T24:00:00Z",
            "2024-05-17T10:15:00+15:00",
            "2024-05-17 10:15:00Z",
            "2024-05-17T10:15:00.Z",
        ] {
            assert!(!is_datetime(bad), "{bad} is not a dateTime");
        }
        assert!(is_instant("2024-05-17T10:15:00Z") && !is_instant("2024-05-17"));
        assert!(is_id("a-Z.09") && !is_id("") && !is_id("a b") && !is_id(&"x".repeat(65)));
        assert!(is_code("in-progress") && is_code("a b") && !is_code(" a") && !is_code("a  b") && !is_code("a\tb"));
        assert!(is_uri("urn:uuid:x") && !is_uri("http://a b"));
    }

    #[test]
    fn a_medication_request_needs_dosage_instructions() {
        let mut doc = prescription();
        resource(&mut doc, 6).remove("dosageInstruction");
        assert_error(&doc, Profile::PrescriptionRecord, "entry[6].resource.dosageInstruction", "is required");
    }

    #[test]
    fn a_medication_request_names_its_medication_once() {
        let mut doc = prescription();
        resource(&mut doc, 6).insert("medicationReference".into(), json!({"display": "Paracetamol"}));
        assert_error(&doc, Profile::PrescriptionRecord, "entry[6].resource.medication[x]", "has both");
    }

    #[test]
    fn a_medication_request_dispenses_a_positive_quantity_from_an_organization() {
        let mut doc = prescription();
        resource(&mut doc, 6)["dispenseRequest"]["quantity"]["value"] = json!(0);
        resource(&mut doc, 6)["dispenseRequest"]["performer"] = to(PRACTITIONER);
        let errors = validate_document(&doc, Profile::PrescriptionRecord).unwrap_err();
        assert_found(&errors, "entry[6].resource.dispenseRequest.quantity.value", "not a positive number");
        assert_found(&errors, "entry[6].resource.dispenseRequest.performer.reference", "expected Organization");
    }

    #[test]
    fn the_patient_is_identified_by_the_health_id_registry() {
        let mut doc = op_consult();
        resource(&mut doc, 1)["identifier"][0]["system"] = json!("https://healthid.example.org");
        assert_error(&doc, Profile::OpConsultRecord, "entry[1].resource.identifier", HEALTH_ID_SYSTEM);
    }

    #[test]
    fn an_entry_nothing_references_is_an_orphan() {
        let mut doc = op_consult();
        let observation = json!({"resourceType": "Observation", "status": "final", "code": {"text": "Pulse"}, "subject": to(PATIENT)});
        doc["entry"].as_array_mut().unwrap().push(entry(0x20, observation));
        assert_error(&doc, Profile::OpConsultRecord, "entry[6].resource", "is not referenced from the Composition");
    }

    #[test]
    fn an_unexpected_resource_type_is_reported() {
        let mut doc = op_consult();
        doc["entry"].as_array_mut().unwrap().push(entry(0x21, json!({"resourceType": "Claim", "status": "active"})));
        assert_error(&doc, Profile::OpConsultRecord, "entry[6].resource", "unexpected resource type Claim");
    }

    #[test]
    fn the_encounter_class_is_a_single_coding() {
        let mut doc = op_consult();
        let class = resource(&mut doc, 4)["class"].take();
        resource(&mut doc, 4).insert("class".into(), json!([class]));
        assert_error(&doc, Profile::OpConsultRecord, "entry[4].resource.class", "must be a single object, not an array");
    }

    #[test]
    fn a_searchset_of_documents_passes_and_picks_each_profile() {
        assert_eq!(validate_searchset(&searchset(vec![op_consult(), prescription()])), Ok(()));
        assert_eq!(validate_searchset(&json!({"resourceType": "Bundle", "type": "searchset", "total": 0})), Ok(()));
    }

    #[test]
    fn a_searchset_with_the_wrong_total_is_reported() {
        let mut bundle = searchset(vec![op_consult(), prescription()]);
        bundle["total"] = json!(3);
        let errors = validate_searchset(&bundle).unwrap_err();
        assert_found(&errors, "total", "is 3 but the Bundle carries 2 entries");
    }

    #[test]
    fn a_searchset_reports_document_errors_under_their_entry() {
        let mut broken = prescription();
        resource(&mut broken, 6).remove("dosageInstruction");
        let mut unknown = op_consult();
        resource(&mut unknown, 0)["type"] = snomed("229059009", "Report");
        let errors = validate_searchset(&searchset(vec![op_consult(), broken, unknown])).unwrap_err();
        assert_found(&errors, "entry[1].resource.entry[6].resource.dosageInstruction", "is required");
        assert_found(&errors, "entry[2].resource", "neither OPConsultRecord");
        assert_found(&errors, "entry[2].fullUrl", "duplicate fullUrl");
    }
}
