// Package tune is Lode's hyperparameter tuning without its transports or
// stores: search spaces (float, int and categorical parameters, uniform or
// log, stepped, conditional), their Optuna distribution encoding, and the
// searcher, a pure, seeded, deterministic state machine that turns a study's
// observations (trials proposed, intermediate values, final values,
// failures) into decisions (the next trial's parameters, whether to prune a
// trial). Its whole state serializes to JSON, so a study resumes where it
// was after a restart. Grid, random and multivariate TPE propose trials;
// ASHA and Hyperband prune them.
package tune
