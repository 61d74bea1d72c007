-- casualty-tracker: the one source of the database schema.
-- A new database is created from this file at the latest schema version; an older one is
-- upgraded by service/migrations (keep user_version below equal to the last migration).
PRAGMA user_version = 4;

-- Who gave a number. Names match folded (API §4 "Names": name_key = names.fold(name));
-- the first spelling is kept in name.
CREATE TABLE sources (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL DEFAULT 'unknown',
    affiliation TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- A source merged into another when names came to be matched folded (the schema 1 -> 2
-- upgrade): kept whole, so its id can answer 404 naming the source it went into.
CREATE TABLE source_merges (
    source_id INTEGER PRIMARY KEY,
    merged_into INTEGER NOT NULL REFERENCES sources(id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    affiliation TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    merged_at TEXT NOT NULL
);

-- One number one source gave on one date; the row always holds the latest version.
-- side_key, location_key, incident_key and via_key are the folded names (service/names.py)
-- that GET /figures filters on; location_code compares case-insensitively (NOCASE: it is
-- ASCII). series_key names its series (API §6) and family_key the same without location, so a
-- reconciliation run reads a series, a family's whole-conflict figures, or the parts that
-- could exceed them, each with one indexed query.
CREATE TABLE figures (
    id INTEGER PRIMARY KEY,
    conflict TEXT NOT NULL,
    source_id INTEGER NOT NULL REFERENCES sources(id),
    category TEXT NOT NULL,
    side TEXT,
    location TEXT,
    location_code TEXT COLLATE NOCASE,
    "group" TEXT,
    incident TEXT,
    count INTEGER NOT NULL,
    count_high INTEGER,
    qualifier TEXT NOT NULL,
    unit TEXT NOT NULL,
    reported_on TEXT NOT NULL,
    as_of TEXT NOT NULL,
    period_start TEXT,
    via TEXT,
    quote TEXT,
    url TEXT,
    notes TEXT,
    low INTEGER NOT NULL,
    high INTEGER,
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retracted')),
    retraction_reason TEXT,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    family_key TEXT NOT NULL,
    series_key TEXT NOT NULL,
    side_key TEXT,
    location_key TEXT,
    incident_key TEXT,
    via_key TEXT,
    open_flags INTEGER NOT NULL DEFAULT 0
);
-- Every index costs every insert, so only those a query needs: equality filters that
-- pick few rows (conflict, source, place, incident; listed by id, so the index order is
-- the answer's order) and the reconciliation reads. Category, side and status have a
-- handful of values each: walking the id order finds a page of them at once. Date ranges
-- would need a sort of every match before the first page, so id order is faster there too.
CREATE INDEX figures_conflict ON figures (conflict, id);
CREATE INDEX figures_source ON figures (source_id, id);
CREATE INDEX figures_location ON figures (location_key, id);
CREATE INDEX figures_incident ON figures (incident_key, id);
CREATE INDEX figures_series ON figures (series_key, status);
CREATE INDEX figures_family_low ON figures (family_key, status, low);

-- Every version of every figure, the current one included: a JSON snapshot of the
-- figure as it stood, so a correction never loses what was said before.
CREATE TABLE figure_versions (
    figure_id INTEGER NOT NULL REFERENCES figures(id),
    version INTEGER NOT NULL,
    change TEXT NOT NULL CHECK (change IN ('created', 'corrected', 'retracted')),
    snapshot TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (figure_id, version)
) WITHOUT ROWID;

-- A source denying or contesting a figure.
CREATE TABLE disputes (
    id INTEGER PRIMARY KEY,
    figure_id INTEGER NOT NULL REFERENCES figures(id),
    source_id INTEGER NOT NULL REFERENCES sources(id),
    reported_on TEXT NOT NULL,
    quote TEXT,
    url TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX disputes_figure ON disputes (figure_id, id);

-- API tokens, stored only as SHA-256 hashes of high-entropy random tokens.
CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('reader', 'editor', 'admin')),
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);

-- Series changed since the last successful reconciliation run. changed_seq lets a run
-- clear only what it saw: a change that lands during the run stays dirty for the next.
-- additions_only is 1 while every change since that run was a new figure (listed in
-- dirty_figures): a run then merges the new figures into the series' flags instead of
-- re-checking the whole series (issue 10). Any other change sets it to 0.
CREATE TABLE dirty_series (
    series_key TEXT PRIMARY KEY,
    changed_seq INTEGER NOT NULL,
    additions_only INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- The figures added since the run that last cleared their series (a row per figure,
-- appended in id order, so ingest stays cheap); their series is figures.series_key.
CREATE TABLE dirty_figures (
    figure_id INTEGER PRIMARY KEY
);

CREATE TABLE reconciliation_runs (
    id INTEGER PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    trigger TEXT NOT NULL,
    "full" INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    series_checked INTEGER NOT NULL DEFAULT 0,
    figures_checked INTEGER NOT NULL DEFAULT 0,
    flags_opened INTEGER NOT NULL DEFAULT 0,
    flags_closed INTEGER NOT NULL DEFAULT 0,
    error TEXT
);

-- One row: who may run reconciliation now. Taken atomically inside BEGIN IMMEDIATE,
-- with an expiry so a crashed holder cannot block runs for ever.
CREATE TABLE reconciliation_lease (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    holder TEXT,
    run_id INTEGER,
    expires_at REAL NOT NULL DEFAULT 0
);
INSERT INTO reconciliation_lease (id, holder, run_id, expires_at) VALUES (1, NULL, NULL, 0);

-- A flag's identity is (rule, flag_key): it keeps its id through every status.
-- series_key is the series whose check owns it (for part_exceeds_whole, the part's) and
-- whole_series_key the whole's series: re-checking either may close the flag.
-- worst_higher and worst_lower: for disagreement and decrease, the worst contradicting
-- pair (its severity and explanation), so new figures can be merged into the flag.
CREATE TABLE flags (
    id INTEGER PRIMARY KEY,
    rule TEXT NOT NULL,
    flag_key TEXT NOT NULL,
    series_key TEXT NOT NULL,
    whole_series_key TEXT,
    conflict TEXT NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high')),
    figure_ids TEXT NOT NULL,
    explanation TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved', 'obsolete')),
    note TEXT,
    first_seen_run INTEGER NOT NULL REFERENCES reconciliation_runs(id),
    last_seen_run INTEGER NOT NULL REFERENCES reconciliation_runs(id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    worst_higher INTEGER,
    worst_lower INTEGER,
    UNIQUE (rule, flag_key)
);
CREATE INDEX flags_series ON flags (series_key);
CREATE INDEX flags_whole_series ON flags (whole_series_key);
CREATE INDEX flags_status ON flags (status, id);
CREATE INDEX flags_conflict ON flags (conflict, id);

-- Which figures a flag lists, for GET /flags?figure_id= and the report's open_flags.
CREATE TABLE flag_figures (
    figure_id INTEGER NOT NULL,
    flag_id INTEGER NOT NULL REFERENCES flags(id),
    PRIMARY KEY (figure_id, flag_id)
) WITHOUT ROWID;
CREATE INDEX flag_figures_flag ON flag_figures (flag_id);

-- figures.open_flags: how many open flags list the figure, kept exact in the same
-- transaction as every flag change, so the figures export reads a column instead of
-- counting flags for every row (API §7, issue 10). A run moves the counts with the links
-- it writes (store.save_findings); this trigger moves them with every status change (a
-- run closing or reopening a flag, a person's PATCH).
CREATE TRIGGER flags_open_status AFTER UPDATE OF status ON flags
WHEN (OLD.status = 'open') != (NEW.status = 'open')
BEGIN
    UPDATE figures SET open_flags = open_flags + (CASE WHEN NEW.status = 'open' THEN 1 ELSE -1 END)
    WHERE id IN (SELECT figure_id FROM flag_figures WHERE flag_id = NEW.id);
END;

-- Idempotency-Key replay store: the first response to a keyed POST, returned again on a
-- retry. owner is a hash of the caller's token, so one client cannot replay another's.
-- Written in the same transaction as the figures it answers for.
CREATE TABLE idempotency_keys (
    owner TEXT NOT NULL,
    key TEXT NOT NULL,
    scope TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status INTEGER NOT NULL,
    response TEXT NOT NULL,
    location TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (owner, key, scope)
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- Issue 13 (web pages): the key that signs the pages' session cookies when
-- CASUALTY_TRACKER_SECRET_KEY is not set, made once so every process signs alike.
-- store.web_secret_key also creates this table in a database made before it existed.
CREATE TABLE web_secret (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    secret TEXT NOT NULL,
    created_at TEXT NOT NULL
);
