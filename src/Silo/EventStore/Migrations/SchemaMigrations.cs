namespace Hoop.Silo.EventStore.Migrations;

/// <summary>The ordered list of schema migrations for schema <c>hoop</c>.</summary>
public static class SchemaMigrations
{
    public static IReadOnlyList<Migration> All { get; } =
    [
        new(1, "event store", """
            CREATE TABLE hoop.streams (
                id          text        PRIMARY KEY,
                type        text        NOT NULL,
                version     bigint      NOT NULL,
                last_hash   bytea,
                created_at  timestamptz NOT NULL,
                updated_at  timestamptz NOT NULL
            );

            -- data and metadata are `json`, not `jsonb`: json keeps the exact text, so the
            -- bytes read back are the bytes that were hashed.
            CREATE TABLE hoop.events (
                seq        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                stream_id  text        NOT NULL,
                version    bigint      NOT NULL,
                type       text        NOT NULL,
                data       json        NOT NULL,
                metadata   json        NOT NULL,
                at         timestamptz NOT NULL,
                tx_id      xid8        NOT NULL DEFAULT pg_current_xact_id(),
                hash       bytea       NOT NULL,
                CONSTRAINT events_stream_version UNIQUE (stream_id, version)
            );

            -- Global readers go in (tx_id, seq) order below the oldest running transaction.
            CREATE INDEX events_tx_seq ON hoop.events (tx_id, seq);

            CREATE TABLE hoop.projection_progress (
                name         text        PRIMARY KEY,
                position_tx  xid8        NOT NULL DEFAULT '0',
                position     bigint      NOT NULL DEFAULT 0,
                state        text        NOT NULL DEFAULT 'idle',
                updated_at   timestamptz NOT NULL DEFAULT now()
            );

            CREATE FUNCTION hoop.reject_event_changes() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'hoop.events is append-only: % is not allowed', TG_OP
                    USING ERRCODE = 'restrict_violation',
                          HINT = 'Events are evidence; correct a mistake by appending a new event.';
            END
            $$;

            CREATE TRIGGER events_append_only
                BEFORE UPDATE OR DELETE OR TRUNCATE ON hoop.events
                FOR EACH STATEMENT EXECUTE FUNCTION hoop.reject_event_changes();
            """),
        new(2, "reminders", """
            -- Durable timers (Orleans reminders): a grain asks to be called at due_at, and
            -- one silo at a time (advisory lock) calls it, even after the silo that asked died.
            CREATE TABLE hoop.reminders (
                stream_id  text        PRIMARY KEY,
                due_at     timestamptz NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now()
            );
            CREATE INDEX reminders_due ON hoop.reminders (due_at);
            """),
        new(3, "projections", """
            -- Read models kept by the projection daemon (src/Silo/Projections), each written in
            -- the same transaction as its checkpoint in projection_progress. Index names are
            -- left to PostgreSQL: a rebuild copies a table with LIKE ... INCLUDING ALL and
            -- renames the copy in, so fixed names would collide.
            CREATE TABLE hoop.session_summaries (
                session_id        text        PRIMARY KEY,
                identity          text,
                connection        text,
                started_at        timestamptz NOT NULL,
                last_activity_at  timestamptz NOT NULL,
                exchanges         integer     NOT NULL DEFAULT 0,
                blocked           integer     NOT NULL DEFAULT 0,
                approvals         integer     NOT NULL DEFAULT 0,
                masks             integer     NOT NULL DEFAULT 0,
                input_tokens      bigint      NOT NULL DEFAULT 0,
                output_tokens     bigint      NOT NULL DEFAULT 0,
                status            text        NOT NULL DEFAULT 'open',
                closed_reason     text
            );
            CREATE INDEX ON hoop.session_summaries (started_at DESC, session_id DESC);
            CREATE INDEX ON hoop.session_summaries (identity, started_at DESC, session_id DESC);

            -- One row per decision event; seq is the event's, so an event cannot be entered twice.
            CREATE TABLE hoop.audit_log (
                seq          bigint      PRIMARY KEY,
                at           timestamptz NOT NULL,
                kind         text        NOT NULL,
                identity     text,
                actor        text,
                reason       text,
                rule         text,
                connection   text,
                session_id   text,
                exchange_id  text,
                approval_id  text,
                stream_id    text        NOT NULL
            );
            CREATE INDEX ON hoop.audit_log (identity, seq DESC);
            CREATE INDEX ON hoop.audit_log (approval_id) WHERE approval_id IS NOT NULL;

            -- outside_working_hours is null while Hoop:Projections:WorkingHours is not configured.
            CREATE TABLE hoop.identity_activity (
                identity               text        NOT NULL,
                hour                   timestamptz NOT NULL,
                requests               bigint      NOT NULL DEFAULT 0,
                input_tokens           bigint      NOT NULL DEFAULT 0,
                output_tokens          bigint      NOT NULL DEFAULT 0,
                blocked                bigint      NOT NULL DEFAULT 0,
                outside_working_hours  boolean,
                PRIMARY KEY (identity, hour)
            );

            ALTER TABLE hoop.projection_progress
                ADD COLUMN events_done bigint NOT NULL DEFAULT 0,
                ADD COLUMN owner       text;
            """),
        new(4, "cluster membership", """
            -- Orleans cluster membership (src/Silo/Cluster/PostgresMembershipTable.cs), apart from the
            -- audit data. One version row per cluster: every membership change bumps it, and a writer
            -- whose etag (the version it read) is stale loses. Rows are keyed by the silo's address
            -- (ip:port@generation), each with its own etag.
            CREATE SCHEMA IF NOT EXISTS hoop_cluster;

            CREATE TABLE hoop_cluster.membership_versions (
                cluster_id  text        PRIMARY KEY,
                version     integer     NOT NULL,
                updated_at  timestamptz NOT NULL DEFAULT now()
            );

            CREATE TABLE hoop_cluster.members (
                cluster_id     text        NOT NULL REFERENCES hoop_cluster.membership_versions ON DELETE CASCADE,
                address        text        NOT NULL,
                status         integer     NOT NULL,
                proxy_port     integer     NOT NULL,
                host_name      text        NOT NULL,
                silo_name      text        NOT NULL,
                suspect_times  json,
                start_time     timestamptz NOT NULL,
                i_am_alive     timestamptz NOT NULL,
                etag           integer     NOT NULL,
                PRIMARY KEY (cluster_id, address)
            );
            """),
        new(5, "orleans reminders", """
            -- Orleans reminders (src/Silo/Cluster/PostgresReminderTable.cs): approval expiry. Each silo
            -- reads the reminders whose grain hash falls in its part of the ring; etag guards updates.
            CREATE TABLE hoop_cluster.reminders (
                service_id     text        NOT NULL,
                grain_id       text        NOT NULL,
                reminder_name  text        NOT NULL,
                start_at       timestamptz NOT NULL,
                period_ms      bigint      NOT NULL,
                grain_hash     bigint      NOT NULL,
                etag           integer     NOT NULL,
                PRIMARY KEY (service_id, grain_id, reminder_name)
            );
            CREATE INDEX ON hoop_cluster.reminders (service_id, grain_hash);
            CREATE INDEX ON hoop_cluster.reminders (service_id, reminder_name, start_at);

            -- The home-made reminder sweeper's table is replaced. An approval still pending from before
            -- expires when next decided on or waited for (both check the deadline).
            DROP TABLE hoop.reminders;
            """),
        new(6, "grain snapshots", """
            -- The folded state of a session or identity grain after a version of its stream
            -- (src/Silo/Actors/Snapshots): an activation reads it plus the tail after it. A cache, not
            -- evidence: deleting rows only makes the next activations fold more events. fold names the
            -- state's shape and settings; a snapshot of another fold is ignored and replaced.
            CREATE TABLE hoop.snapshots (
                stream_id  text        PRIMARY KEY,
                version    bigint      NOT NULL,
                fold       text        NOT NULL,
                state      bytea       NOT NULL,
                taken_at   timestamptz NOT NULL
            );
            """),
        new(7, "retention", """
            -- Retention (src/Silo/Retention, docs/retention.md). Not append-only: destroying a session's
            -- content is deleting its data key's row (crypto-shredding); the events keep the ciphertext.
            -- Master keys themselves never reach the database: only a check value per version, so a
            -- silo started with a wrong key refuses to start.
            CREATE TABLE hoop.retention_master_keys (
                version      integer     PRIMARY KEY,
                check_value  bytea       NOT NULL,
                created_at   timestamptz NOT NULL DEFAULT now()
            );

            -- One data key per session (a new one only if content arrives after the old one was destroyed),
            -- wrapped (AES-256-GCM) by master key version key_version.
            CREATE TABLE hoop.content_keys (
                session_id   text        PRIMARY KEY,
                key_id       uuid        NOT NULL UNIQUE,
                key_version  integer     NOT NULL,
                wrapped      bytea       NOT NULL,
                created_at   timestamptz NOT NULL DEFAULT now()
            );

            -- What the sweeps and erasure need to find sessions without reading every stream: who, which
            -- connection, roughly when last active (touched at most hourly), and what was destroyed when.
            CREATE TABLE hoop.retention_sessions (
                session_id           text        PRIMARY KEY,
                identity             text        NOT NULL,
                connection           text        NOT NULL,
                opened_at            timestamptz NOT NULL,
                touched_at           timestamptz NOT NULL,
                content_gone_at      timestamptz,
                content_gone_how     text,
                metadata_removed_at  timestamptz
            );
            CREATE INDEX ON hoop.retention_sessions (identity);
            CREATE INDEX ON hoop.retention_sessions (touched_at) WHERE metadata_removed_at IS NULL;
            """),
        new(8, "event store on marten", """
            -- The event store moves onto Marten's event tables in schema hoop_events (mt_streams,
            -- mt_events: created by Marten/Weasel, see MartenSchema.cs, before this runs). The
            -- home-made tables stay as read-only archives under new names; hoop.events and
            -- hoop.streams become views over the new tables, so readers of the old shape
            -- (projections, operators' queries) keep working.
            ALTER TABLE hoop.events RENAME TO events_v1;
            ALTER TABLE hoop.streams RENAME TO streams_v1;
            ALTER INDEX hoop.events_tx_seq RENAME TO events_v1_tx_seq;

            -- What Marten's tables cannot hold: each event's hash-chain link, and the id of the
            -- transaction that wrote it (global readers go in (tx_id, seq) order below the
            -- oldest running transaction, so a late commit is never skipped). Written in the
            -- same statement as the mt_events rows.
            CREATE TABLE hoop_events.event_chain (
                seq_id     bigint      PRIMARY KEY,
                stream_id  varchar     NOT NULL,
                version    bigint      NOT NULL,
                tx_id      xid8        NOT NULL DEFAULT pg_current_xact_id(),
                hash       bytea       NOT NULL
            );
            -- (stream_id, version) is unique through mt_events (pk_mt_events_stream_and_version);
            -- a second unique index here would cost every append an index insert for nothing.
            CREATE INDEX event_chain_tx_seq ON hoop_events.event_chain (tx_id, seq_id);

            -- Signed checkpoints of chain heads (CheckpointWriter): every stream appended to
            -- since the previous checkpoint, with its version and hash at the cut, HMAC-signed
            -- with a key kept outside the database and chained to the previous checkpoint.
            CREATE TABLE hoop_events.chain_checkpoints (
                id          bigint      PRIMARY KEY,
                cut_tx      xid8        NOT NULL,
                cut_seq     bigint      NOT NULL,
                created_at  timestamptz NOT NULL,
                heads       jsonb       NOT NULL,
                previous    bytea,
                mac         bytea       NOT NULL
            );

            CREATE FUNCTION hoop_events.reject_event_changes() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '%.% is append-only: % is not allowed', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
                    USING ERRCODE = 'restrict_violation',
                          HINT = 'Events are evidence; correct a mistake by appending a new event.';
            END
            $$;

            -- Events, their chain links and checkpoints are never changed or removed. Marten
            -- features that rewrite events (archiving, tombstones, compaction, event skipping)
            -- are not used.
            CREATE TRIGGER events_append_only
                BEFORE UPDATE OR DELETE OR TRUNCATE ON hoop_events.mt_events
                FOR EACH STATEMENT EXECUTE FUNCTION hoop_events.reject_event_changes();
            CREATE TRIGGER event_chain_append_only
                BEFORE UPDATE OR DELETE OR TRUNCATE ON hoop_events.event_chain
                FOR EACH STATEMENT EXECUTE FUNCTION hoop_events.reject_event_changes();
            CREATE TRIGGER chain_checkpoints_append_only
                BEFORE UPDATE OR DELETE OR TRUNCATE ON hoop_events.chain_checkpoints
                FOR EACH STATEMENT EXECUTE FUNCTION hoop_events.reject_event_changes();
            -- A stream row moves forward on every append; it is never removed or moved back.
            CREATE TRIGGER streams_never_removed
                BEFORE DELETE OR TRUNCATE ON hoop_events.mt_streams
                FOR EACH STATEMENT EXECUTE FUNCTION hoop_events.reject_event_changes();
            CREATE TRIGGER streams_only_move_forward
                BEFORE UPDATE ON hoop_events.mt_streams
                FOR EACH ROW WHEN (NEW.id IS DISTINCT FROM OLD.id OR NEW.version < OLD.version)
                EXECUTE FUNCTION hoop_events.reject_event_changes();

            CREATE VIEW hoop.events AS
                SELECT c.seq_id AS seq, e.stream_id::text AS stream_id, e.version, e.type::text AS type,
                       e.data, e.headers AS metadata, e.timestamp AS at, c.tx_id, c.hash
                FROM hoop_events.event_chain c JOIN hoop_events.mt_events e ON e.seq_id = c.seq_id;
            CREATE VIEW hoop.streams AS
                SELECT id::text AS id, type::text AS type, version, created AS created_at, timestamp AS updated_at
                FROM hoop_events.mt_streams;
            """),
    ];

    public static int Latest => All[^1].Version;
}
