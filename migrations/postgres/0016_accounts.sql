-- Accounts a person can live with: confirmed email addresses (at sign-up and on a change of
-- address: only the link's SHA-256 is stored), removed accounts anonymised in place (their
-- id stays for what other contexts keep, attributed to a deleted user), and community
-- settings (default language, registration open or by invite) as JSON.

ALTER TABLE users ADD COLUMN email_confirmed_at TIMESTAMPTZ;
ALTER TABLE users ADD COLUMN deleted_at TIMESTAMPTZ;
-- Accounts made before confirmation existed count as confirmed: turning on
-- auth.require_confirmed_email must not lock them out.
UPDATE users SET email_confirmed_at = created_at;

ALTER TABLE communities ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';

CREATE TABLE email_confirmations (
    id         TEXT        PRIMARY KEY CHECK (length(id) = 21),
    user_id    TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      TEXT        NOT NULL,
    token_hash TEXT        NOT NULL UNIQUE CHECK (length(token_hash) = 64),
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX email_confirmations_user_idx ON email_confirmations (user_id);
