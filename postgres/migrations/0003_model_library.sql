-- Model library: what each version's MLmodel file says, so models can be
-- found by flavor and by signature ("takes 11 float columns").
ALTER TABLE model_versions
    ADD COLUMN flavors           TEXT COLLATE "C" NOT NULL DEFAULT '',  -- ",sklearn,python_function,"
    ADD COLUMN input_columns     INTEGER NOT NULL DEFAULT -1,           -- -1: no signature
    ADD COLUMN input_types       TEXT COLLATE "C" NOT NULL DEFAULT '',  -- ",float,int,"
    ADD COLUMN output_columns    INTEGER NOT NULL DEFAULT -1,
    ADD COLUMN output_types      TEXT COLLATE "C" NOT NULL DEFAULT '',
    ADD COLUMN signature_inputs  TEXT COLLATE "C" NOT NULL DEFAULT '',
    ADD COLUMN signature_outputs TEXT COLLATE "C" NOT NULL DEFAULT '';
