-- Foreign keys that only repeat what another one already guarantees. On PostgreSQL every check is a query of its own
-- and a row lock written to the WAL; these ran on every step of every order and every chained audit event.
--
-- * A prescription's health record is inserted by the same statement, and the prescription carries its own checked
--   references to the consult, patient and doctor.
-- * An order's holders and its dispensing are written in the transaction that inserts or moves that order (one
--   statement, except a reroute), with the order's own prescription and pharmacy, which the order's foreign keys check.
-- * A chain link names an event the chainer read in the same transaction, and events are append-only (a trigger refuses
--   updates and deletes); `GET /api/v1/audit/verify` reports a link without its event as a broken link.
--
-- Nothing in the service deletes patients, providers, facilities, consults, records, prescriptions or orders, so no
-- parent can go missing later. Every person and place stays checked on the row that first records it: the doctor and
-- patient on the prescription, the pharmacy on the order, the pharmacist on the dispensing.
-- SQLite keeps these constraints: there a check is an index probe with no lock, and dropping one means rebuilding the table.
ALTER TABLE prescriptions DROP CONSTRAINT prescriptions_id_fkey;
ALTER TABLE order_holders DROP CONSTRAINT order_holders_order_id_fkey;
ALTER TABLE dispenses DROP CONSTRAINT dispenses_order_id_fkey;
ALTER TABLE dispenses DROP CONSTRAINT dispenses_prescription_id_fkey;
ALTER TABLE dispenses DROP CONSTRAINT dispenses_pharmacy_id_fkey;
ALTER TABLE audit_chain DROP CONSTRAINT audit_chain_event_id_fkey;
