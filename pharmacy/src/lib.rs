//! Routing prescriptions to pharmacies and the order state machine (built in the pharmacy issue).
