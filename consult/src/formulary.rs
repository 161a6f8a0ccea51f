//! The drug formulary the service ships (`consult/data/formulary.csv`): each drug's Telemedicine Practice Guidelines 2020 list,
//! lookup of what a doctor types, and the rule that decides whether a drug may be prescribed in a consult.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::{Serialize, Serializer};

const SHIPPED_CSV: &str = include_str!("../data/formulary.csv");
const HEADER: &str = "code,name,list,category,forms,synonyms";

/// Units a strength may carry: `500mg`, `500 mg`, `5ml`, `0.3%`, `10mcg`, `100 iu`, `60k`, `125mg/5ml`.
const UNITS: &[&str] = &["mg", "mcg", "ug", "µg", "g", "gm", "ml", "iu", "u", "unit", "units", "k", "%", "w/v", "w/w"];

/// The TPG 2020 list a drug is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DrugList {
    O,
    A,
    B,
    Prohibited,
}

impl DrugList {
    pub fn as_str(self) -> &'static str {
        match self {
            DrugList::O => "O",
            DrugList::A => "A",
            DrugList::B => "B",
            DrugList::Prohibited => "prohibited",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [DrugList::O, DrugList::A, DrugList::B, DrugList::Prohibited].into_iter().find(|list| list.as_str() == s)
    }
}

impl Serialize for DrugList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One formulary entry.
#[derive(Clone, Debug, Serialize)]
pub struct Drug {
    pub code: String,
    pub name: String,
    pub list: DrugList,
    pub category: String,
    pub forms: Vec<String>,
    pub synonyms: Vec<String>,
}

/// Why a drug may not be prescribed in this consult: each maps to an API error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Prohibited,
    RequiresVideo,
    RequiresFollowUp,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Prohibited => "drug_prohibited",
            Refusal::RequiresVideo => "drug_requires_video",
            Refusal::RequiresFollowUp => "drug_requires_follow_up",
        }
    }

    /// Plain words for the doctor, naming the drug and its TPG list.
    pub fn message(self, drug: &Drug) -> String {
        let mut chars = drug.name.chars();
        let name: String = chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default();
        match self {
            Refusal::Prohibited => {
                format!("{name} is a prohibited drug (Schedule X / NDPS) and can never be prescribed by teleconsultation.")
            }
            Refusal::RequiresVideo => format!(
                "{name} is on TPG List A: on a first consultation it may be prescribed only during a video call (any mode in a follow-up)."
            ),
            Refusal::RequiresFollowUp => format!(
                "{name} is on TPG List B (an add-on to optimise an existing treatment) and may be prescribed only in a follow-up consultation."
            ),
        }
    }
}

/// The TPG 2020 rule: List O any consult; List A on a first consult only by video (any mode on a follow-up);
/// List B only on a follow-up; prohibited never.
pub fn check(drug: &Drug, follow_up: bool, video: bool) -> Result<(), Refusal> {
    match drug.list {
        DrugList::O => Ok(()),
        DrugList::A if follow_up || video => Ok(()),
        DrugList::A => Err(Refusal::RequiresVideo),
        DrugList::B if follow_up => Ok(()),
        DrugList::B => Err(Refusal::RequiresFollowUp),
        DrugList::Prohibited => Err(Refusal::Prohibited),
    }
}

/// The formulary: its entries and an index from every normalised code, name and synonym to its entry.
pub struct Formulary {
    drugs: Vec<Drug>,
    index: HashMap<String, usize>,
}

impl Formulary {
    /// The formulary shipped with the service.
    pub fn shipped() -> &'static Formulary {
        static SHIPPED: OnceLock<Formulary> = OnceLock::new();
        SHIPPED.get_or_init(|| {
            Formulary::parse(SHIPPED_CSV).unwrap_or_else(|e| panic!("the shipped formulary consult/data/formulary.csv is malformed: {e}"))
        })
    }

    pub fn len(&self) -> usize {
        self.drugs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.drugs.is_empty()
    }

    /// Finds a drug by code (case-insensitive) or by name or synonym, ignoring letter case, surrounding spaces, repeated
    /// inner spaces, and a trailing strength or form a doctor may add ("Paracetamol 500 mg", "metformin 500mg tablet", "Dolo-650").
    /// Never a fuzzy match: the full text is tried first, then with trailing strengths and forms stripped one by one, then
    /// with every strength removed ("clotrimazole 1% cream"). A stripped form must be one the drug comes in.
    pub fn lookup(&self, name_or_code: &str) -> Option<&Drug> {
        let text = normalise(name_or_code);
        let tokens: Vec<&str> = text.split(' ').filter(|t| !t.is_empty()).collect();
        let without_strengths: Vec<&str> = tokens.iter().copied().filter(|t| !is_strength(t)).collect();
        self.lookup_stripping(tokens.clone())
            .or_else(|| if without_strengths.len() < tokens.len() { self.lookup_stripping(without_strengths) } else { None })
    }

    fn lookup_stripping(&self, mut tokens: Vec<&str>) -> Option<&Drug> {
        let mut stripped_forms = Vec::new();
        while !tokens.is_empty() {
            if let Some(&i) = self.index.get(&tokens.join(" ")) {
                let drug = &self.drugs[i];
                let has_forms = stripped_forms.iter().all(|form| drug.forms.iter().any(|f| f.contains(form)));
                return has_forms.then_some(drug);
            }
            let last = tokens.pop()?;
            if is_strength(last) {
                continue;
            }
            if let Some(form) = form_word(last) {
                stripped_forms.extend(form);
                continue;
            }
            match last.rsplit_once('-') {
                Some((stem, suffix)) if !stem.is_empty() && is_strength(suffix) => tokens.push(stem),
                _ => return None,
            }
        }
        None
    }

    /// Drugs whose name, synonym or code starts with (ranked first) or contains the query, at most `limit`, for a search box.
    /// An exact match comes before other prefixes; ties go alphabetically by name.
    pub fn search(&self, query: &str, limit: usize) -> Vec<&Drug> {
        let query = normalise(query);
        if query.is_empty() {
            return Vec::new();
        }
        let mut hits: Vec<(u8, &Drug)> = self
            .drugs
            .iter()
            .filter_map(|drug| {
                let code = drug.code.to_lowercase();
                let keys = || std::iter::once(drug.name.as_str()).chain(drug.synonyms.iter().map(String::as_str)).chain([code.as_str()]);
                // 0 for an exact match, 1 for a prefix, 2 for a substring, 3 for no match.
                let rank = keys().map(|k| u8::from(k != query) + u8::from(!k.starts_with(&query)) + u8::from(!k.contains(&query)));
                rank.min().filter(|&rank| rank < 3).map(|rank| (rank, drug))
            })
            .collect();
        hits.sort_by(|(rank_a, a), (rank_b, b)| rank_a.cmp(rank_b).then_with(|| a.name.cmp(&b.name)));
        hits.into_iter().take(limit).map(|(_, drug)| drug).collect()
    }

    /// Parses the formulary CSV, refusing anything that would make a lookup ambiguous or a key unreachable.
    fn parse(csv: &str) -> Result<Formulary, String> {
        let mut lines = csv.lines().enumerate().filter(|(_, line)| !line.trim().is_empty());
        match lines.next() {
            Some((_, header)) if header.trim() == HEADER => {}
            _ => return Err(format!("the first line must be the header `{HEADER}`")),
        }
        let mut formulary = Formulary { drugs: Vec::new(), index: HashMap::new() };
        for (n, line) in lines {
            let at = |e: String| format!("line {}: {e}", n + 1);
            let drug = parse_drug(line.trim()).map_err(at)?;
            let i = formulary.drugs.len();
            let keys = std::iter::once(drug.code.to_lowercase()).chain([drug.name.clone()]).chain(drug.synonyms.iter().cloned());
            for key in keys {
                if let Some(&other) = formulary.index.get(&key) {
                    return Err(at(format!("`{key}` already names {}", formulary.drugs[other].code)));
                }
                formulary.index.insert(key, i);
            }
            formulary.drugs.push(drug);
        }
        Ok(formulary)
    }
}

fn parse_drug(line: &str) -> Result<Drug, String> {
    let fields: Vec<&str> = line.split(',').map(str::trim).collect();
    let [code, name, list, category, forms, synonyms] = fields[..] else {
        return Err(format!("expected 6 fields ({HEADER}), found {}", fields.len()));
    };
    let code_ok = code.len() == 6 && code.starts_with("VD") && code[2..].bytes().all(|b| b.is_ascii_digit());
    if !code_ok {
        return Err(format!("code `{code}` is not VD followed by 4 digits"));
    }
    let list = DrugList::parse(list).ok_or_else(|| format!("list `{list}` is not one of O, A, B, prohibited"))?;
    let split = |s: &str| s.split('|').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect::<Vec<_>>();
    let (forms, synonyms) = (split(forms), split(synonyms));
    if category.is_empty() || forms.is_empty() {
        return Err(format!("{code} needs a category and at least one form"));
    }
    for key in std::iter::once(name).chain(synonyms.iter().map(String::as_str)) {
        if key.is_empty() || normalise(key) != key {
            return Err(format!("`{key}` must be lower case, single-spaced, non-empty, with ` + ` between combined drugs"));
        }
        if key.split(' ').any(is_strength) {
            return Err(format!("`{key}` contains a strength, which lookup would strip"));
        }
    }
    let forms = forms.into_iter().map(|f| f.to_lowercase()).collect();
    Ok(Drug { code: code.to_owned(), name: name.to_owned(), list, category: category.to_owned(), forms, synonyms })
}

/// Lower case, single spaces, `+` spaced out, and no trailing full stop or comma on a word ("Tab.").
fn normalise(s: &str) -> String {
    let s = s.to_lowercase().replace('+', " + ");
    let words = s.split_whitespace().map(|w| w.trim_end_matches(['.', ','])).filter(|w| !w.is_empty());
    words.collect::<Vec<_>>().join(" ")
}

/// A number (`500`, `0.3`, `500/125`), a number with a unit (`500mg`, `0.3%`, `125mg/5ml`), or a unit on its own (`mg`).
fn is_strength(token: &str) -> bool {
    let unit_start = token.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '/')).unwrap_or(token.len());
    let (number, unit) = token.split_at(unit_start);
    if number.is_empty() {
        return is_unit(token);
    }
    number.starts_with(|c: char| c.is_ascii_digit()) && (unit.is_empty() || is_unit(unit))
}

fn is_unit(s: &str) -> bool {
    UNITS.contains(&s)
        || s.split_once('/').is_some_and(|(a, b)| UNITS.contains(&a) && UNITS.contains(&b.trim_start_matches(|c: char| c.is_ascii_digit())))
}

/// Dosage forms a doctor may append, spelled as in the data's `forms`; plurals and the abbreviations below are accepted too.
const FORMS: &str = "tablet capsule syrup suspension cream ointment gel lotion drops injection inhaler rotacap respules solution spray \
                     powder sachet patch lozenge mouthwash suppository shampoo gum";
const ABBREVIATIONS: &str = "tab:tablet cap:capsule syp:syrup susp:suspension oint:ointment drop:drops inj:injection soln:solution";
/// Release and strength words stripped whatever the drug's form ("glycomet sr", "neurobion forte").
const MODIFIERS: &str = "sr er xr xl mr cr od ds forte";

/// A form word: `Some(Some(form))` must then be among the drug's forms; `Some(None)` is a modifier any form may have.
fn form_word(token: &str) -> Option<Option<&'static str>> {
    if MODIFIERS.split(' ').any(|m| m == token) {
        return Some(None);
    }
    let singular = token.strip_suffix('s').unwrap_or(token);
    let is = |word: &str| word == token || word == singular;
    let abbreviation = || ABBREVIATIONS.split(' ').filter_map(|a| a.split_once(':')).find(|(short, _)| is(short)).map(|(_, form)| form);
    FORMS.split_whitespace().find(|form| is(form)).or_else(abbreviation).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn drug(name: &str) -> &'static Drug {
        Formulary::shipped().lookup(name).unwrap_or_else(|| panic!("{name} is not in the formulary"))
    }

    fn code_of(name: &str) -> Option<&'static str> {
        Formulary::shipped().lookup(name).map(|d| d.code.as_str())
    }

    #[test]
    fn shipped_data_parses_and_meets_the_list_minimums() {
        let formulary = Formulary::parse(SHIPPED_CSV).expect("the shipped formulary parses");
        assert!(formulary.len() >= 170 && !formulary.is_empty(), "{} entries", formulary.len());
        let count = |list| formulary.drugs.iter().filter(|d| d.list == list).count();
        for (list, min) in [(DrugList::O, 40), (DrugList::A, 50), (DrugList::B, 30), (DrugList::Prohibited, 25)] {
            assert!(count(list) >= min, "list {} has {} entries, fewer than {min}", list.as_str(), count(list));
        }
        assert_eq!(Formulary::shipped().len(), formulary.len());
    }

    #[test]
    fn codes_names_and_synonyms_are_unique_across_the_file() {
        let mut seen = HashSet::new();
        for d in &Formulary::shipped().drugs {
            for key in std::iter::once(d.code.to_lowercase()).chain([d.name.clone()]).chain(d.synonyms.iter().cloned()) {
                assert!(seen.insert(key.clone()), "`{key}` ({}) appears twice", d.code);
            }
        }
    }

    #[test]
    fn malformed_data_is_refused() {
        let ok = "code,name,list,category,forms,synonyms\nVD0001,paracetamol,O,analgesic,tablet,dolo\n";
        assert!(Formulary::parse(ok).is_ok());
        for bad in [
            "name,list\nVD0001,paracetamol,O,analgesic,tablet,dolo\n".to_owned(),
            format!("{HEADER}\nVD0001,paracetamol,O,analgesic,tablet\n"),
            format!("{HEADER}\nVD01,paracetamol,O,analgesic,tablet,\n"),
            format!("{HEADER}\nVD0001,paracetamol,C,analgesic,tablet,\n"),
            format!("{HEADER}\nVD0001,Paracetamol,O,analgesic,tablet,\n"),
            format!("{HEADER}\nVD0001,paracetamol 500 mg,O,analgesic,tablet,\n"),
            format!("{HEADER}\nVD0001,paracetamol,O,analgesic,tablet,dolo\nVD0002,ibuprofen,A,analgesic,tablet,dolo\n"),
            format!("{HEADER}\nVD0001,paracetamol,O,analgesic,tablet,\nVD0001,ibuprofen,A,analgesic,tablet,\n"),
        ] {
            assert!(Formulary::parse(&bad).is_err(), "accepted: {bad}");
        }
    }

    #[test]
    fn every_design_example_is_present_with_its_list() {
        use DrugList::*;
        let examples: [(DrugList, &[&str]); 4] = [
            (O, &["paracetamol", "oral rehydration salts", "ors", "aluminium hydroxide + magnesium hydroxide", "antacid"]),
            (A, &["clotrimazole cream", "ciprofloxacin eye drops", "metformin", "atenolol", "enalapril"]),
            (B, &["hydrochlorothiazide", "sitagliptin"]),
            (Prohibited, &["morphine", "codeine", "alprazolam", "methylphenidate"]),
        ];
        for (list, names) in examples {
            for name in names {
                assert_eq!(drug(name).list, list, "{name}");
            }
        }
        assert_eq!(drug("ors").name, "oral rehydration salts");
        assert_eq!(drug("antacid").category, "antacid");
    }

    #[test]
    fn lookup_ignores_case_spaces_strengths_and_forms() {
        let paracetamol = code_of("paracetamol");
        assert!(paracetamol.is_some());
        let typed = "Paracetamol;  PARACETAMOL  ;Paracetamol 500 mg;paracetamol 500mg;paracetamol 650mg tab.;Dolo-650;dolo 650 tablets;Crocin;calpol syrup;acetaminophen";
        for typed in typed.split(';') {
            assert_eq!(code_of(typed), paracetamol, "{typed}");
        }
        assert_eq!(code_of("metformin 500mg tablet"), code_of("metformin"));
        assert_eq!(code_of("GLYCOMET SR 500"), code_of("metformin"));
        assert_eq!(code_of("amoxicillin+clavulanic   acid 625 mg"), code_of("augmentin"));
        assert_eq!(code_of("salbutamol inhaler 100 mcg"), code_of("asthalin"));
        assert_eq!(code_of("insulin glargine 100 iu/ml"), code_of("lantus"));
        assert_eq!(code_of("clotrimazole 1% cream"), code_of("clotrimazole cream"));
        assert_eq!(code_of("ibuprofen 10% gel"), code_of("ibuprofen gel"));
        assert_ne!(code_of("ibuprofen gel"), code_of("ibuprofen 400 mg"));
        let first = &Formulary::shipped().drugs[0];
        assert_eq!(code_of(&first.code.to_lowercase()), Some(first.code.as_str()));
        assert_eq!(code_of(&format!(" {} ", first.code)), Some(first.code.as_str()));
    }

    #[test]
    fn lookup_tells_eye_drops_from_the_systemic_drug() {
        let (eye, systemic) = (drug("ciprofloxacin eye drops"), drug("ciprofloxacin"));
        assert_ne!(eye.code, systemic.code);
        assert_eq!(eye.list, DrugList::A);
        assert_ne!(systemic.list, DrugList::A);
        assert_eq!(drug("Ciprofloxacin 0.3% eye drops").code, eye.code);
        assert_eq!(drug("ciprofloxacin 500 mg tablet").code, systemic.code);
        // Drops are not a form of the systemic entry, so this must not silently become oral ciprofloxacin.
        assert!(Formulary::shipped().lookup("ciprofloxacin drops").is_none());
    }

    #[test]
    fn lookup_never_guesses() {
        for typed in
            ["unobtainium", "", "   ", "500 mg", "paracetamo", "paracetamol extra", "xparacetamol", "ciprofloxacin ear drops", "vd9999"]
        {
            assert!(Formulary::shipped().lookup(typed).is_none(), "{typed} matched something");
        }
    }

    #[test]
    fn search_ranks_prefixes_first_and_respects_the_limit() {
        let formulary = Formulary::shipped();
        let hits = formulary.search("MET", 100);
        let is_prefix = |d: &Drug| std::iter::once(&d.name).chain(&d.synonyms).any(|k| k.starts_with("met"));
        let substring_only: Vec<bool> = hits.iter().map(|d| !is_prefix(d)).collect();
        assert!(substring_only.contains(&false) && substring_only.contains(&true), "{hits:?}");
        assert!(substring_only.windows(2).all(|w| w[0] <= w[1]), "prefix matches come first: {hits:?}");
        assert!(hits.iter().any(|d| d.name == "glimepiride + metformin"), "substring matches are found");
        let metf = formulary.search("Metf", 10);
        assert_eq!(metf.first().map(|d| d.name.as_str()), Some("metformin"));
        assert!(metf.iter().any(|d| d.name == "glimepiride + metformin"));
        assert_eq!(formulary.search("a", 3).len(), 3);
        assert!(formulary.search("a", 0).is_empty());
        assert!(formulary.search("", 10).is_empty());
        assert!(formulary.search("   ", 10).is_empty());
        assert!(formulary.search("zzzz", 10).is_empty());
        assert_eq!(formulary.search("dolo", 5).first().map(|d| d.name.as_str()), Some("paracetamol"));
    }

    #[test]
    fn check_follows_the_tpg_rule_for_every_list_and_consult() {
        use DrugList::*;
        let (ok, video, follow_up, never) = (Ok(()), Err(Refusal::RequiresVideo), Err(Refusal::RequiresFollowUp), Err(Refusal::Prohibited));
        // Expected for (follow_up, video) = (no, no), (no, yes), (yes, no), (yes, yes).
        let table = [(O, [ok, ok, ok, ok]), (A, [video, ok, ok, ok]), (B, [follow_up, follow_up, ok, ok]), (Prohibited, [never; 4])];
        let consults = [(false, false), (false, true), (true, false), (true, true)];
        for (list, expected) in table {
            let drug = Formulary::shipped().drugs.iter().find(|d| d.list == list).expect("an example");
            for ((follow_up, video), expected) in consults.into_iter().zip(expected) {
                assert_eq!(check(drug, follow_up, video), expected, "list {} follow_up={follow_up} video={video}", list.as_str());
            }
        }
    }

    #[test]
    fn refusals_have_codes_and_plain_messages() {
        assert_eq!(Refusal::Prohibited.code(), "drug_prohibited");
        assert_eq!(Refusal::RequiresVideo.code(), "drug_requires_video");
        assert_eq!(Refusal::RequiresFollowUp.code(), "drug_requires_follow_up");
        assert_eq!(
            Refusal::Prohibited.message(drug("alprazolam")),
            "Alprazolam is a prohibited drug (Schedule X / NDPS) and can never be prescribed by teleconsultation."
        );
        let video = Refusal::RequiresVideo.message(drug("clotrimazole cream"));
        assert!(video.starts_with("Clotrimazole cream is on TPG List A") && video.contains("video"), "{video}");
        let follow_up = Refusal::RequiresFollowUp.message(drug("sitagliptin"));
        assert!(follow_up.starts_with("Sitagliptin is on TPG List B") && follow_up.contains("follow-up"), "{follow_up}");
    }

    #[test]
    fn drugs_serialise_with_their_list_as_a_string() {
        let json = serde_json::to_value(drug("morphine")).expect("serialises");
        assert_eq!(json["list"], "prohibited");
        assert_eq!(json["name"], "morphine");
        assert_eq!(serde_json::to_value(DrugList::O).expect("serialises"), "O");
    }
}
