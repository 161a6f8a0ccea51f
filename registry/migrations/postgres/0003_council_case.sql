-- A council registration number identifies one professional whatever the letter case of the council's name.
CREATE UNIQUE INDEX providers_council_registration_ci ON providers (LOWER(council), registration_number);
