//! Consults, encounter notes, consent and e-prescriptions (built in the consult issue).
