//! End-to-end API tests: the real service on port 0, over HTTP, on SQLite by default and on PostgreSQL
//! (and Redis) when `TEST_DATABASE_URL` (and `TEST_REDIS_URL`) are set.

mod audit;
mod auth;
mod consent;
mod consults;
mod events;
mod facilities;
mod health_ids;
mod leases;
mod multinode;
mod notes;
mod ops;
mod orders;
mod prescriptions;
mod providers;
mod signal;
mod webrtc;
