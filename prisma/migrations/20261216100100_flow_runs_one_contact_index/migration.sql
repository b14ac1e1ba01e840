-- flow_runs_contact_id_idx (20261216100000, for the foreign key to contacts)
-- also serves the one reader of the partial active-runs index: the opt-out
-- trigger contacts_end_flow_runs (`contact_id = … AND status = 'active'`,
-- a contact has few runs). A settle moves status or next_due_at, so it is
-- never heap-only and adds an entry to every index of the table: one contact
-- index instead of two keeps the runs' write cost where it was.
DROP INDEX "flow_runs_contact_active_idx";
