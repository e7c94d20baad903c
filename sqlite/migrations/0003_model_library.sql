-- Model library: what each version's MLmodel file says, so models can be
-- found by flavor and by signature ("takes 11 float columns").
ALTER TABLE model_versions ADD COLUMN flavors TEXT NOT NULL DEFAULT '';        -- ",sklearn,python_function,"
ALTER TABLE model_versions ADD COLUMN input_columns INTEGER NOT NULL DEFAULT -1; -- -1: no signature
ALTER TABLE model_versions ADD COLUMN input_types TEXT NOT NULL DEFAULT '';    -- ",float,int,"
ALTER TABLE model_versions ADD COLUMN output_columns INTEGER NOT NULL DEFAULT -1;
ALTER TABLE model_versions ADD COLUMN output_types TEXT NOT NULL DEFAULT '';
ALTER TABLE model_versions ADD COLUMN signature_inputs TEXT NOT NULL DEFAULT '';
ALTER TABLE model_versions ADD COLUMN signature_outputs TEXT NOT NULL DEFAULT '';
