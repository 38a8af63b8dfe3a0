-- Sign-in and sessions (careline_login_*, careline_session_*), operator
-- accounts (careline_operator_create) and API tokens (careline_token_*).
\ir lib/fixtures.sql
SELECT plan(31);

\set h '\'$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g\''

-- Operator accounts: every rule answered, never raised.
SELECT is(careline_api_operators_create('cli', 'amy', :h, 'operator') ->> 'status', '201', 'an operator is created');
SELECT is(careline_api_operators_create('cli', 'AMY', :h, 'admin') #>> '{body,error,code}', 'operator_exists',
          'names are unique whatever their case');
SELECT is(careline_api_operators_create('cli', 'a b', :h, 'operator') #>> '{body,error,code}', 'invalid_name',
          'a name with a space is refused');
SELECT is(careline_api_operators_create('cli', repeat('x', 65), :h, 'operator') #>> '{body,error,code}', 'invalid_name',
          'a name over 64 characters is refused');
SELECT is(careline_api_operators_create('cli', 'bob', :h, 'root') #>> '{body,error,code}', 'invalid_field',
          'a role other than operator or admin is refused');
SELECT is(careline_api_operators_create('cli', 'bob', '$2b$10$bcrypt', 'operator') ->> 'status', '500',
          'a hash that is not Argon2id is refused');
SELECT ok((SELECT after::text !~ 'argon2' FROM audit_log WHERE action = 'operator.create'),
          'the audit row does not carry the hash');
SELECT careline_api_operators_create('cli', 'ben', :h, 'admin') #>> '{body,id}' AS ben \gset

-- Sign-in: the throttles are carelined's (per address and account); the
-- database answers one row for any name, and a failure costs one insert
-- whether the name exists or not.
SELECT results_eq($$SELECT password_hash IS NOT NULL, account = 'operator:' || id FROM careline_login_lookup('Amy')$$,
                  $$VALUES (true, true)$$, 'lookup is case-blind and keys the throttle by operator id');
SELECT results_eq($$SELECT id, password_hash, account FROM careline_login_lookup('Nobody')$$,
                  $$VALUES (NULL::bigint, NULL::text, 'name:nobody')$$,
                  'an unknown name is one row too, keyed by its lower-cased name');
SELECT is((SELECT count(*) FROM careline_login_lookup('x'' OR ''1''=''1')), 1::bigint,
          'a name is a value, never SQL');
SELECT careline_login_failed(id, '127.0.0.1') FROM operators WHERE name = 'amy' \g /dev/null
SELECT careline_login_failed(NULL, '127.0.0.2') \g /dev/null
SELECT is((SELECT count(*) FROM audit_log WHERE action = 'session.failed'), 2::bigint,
          'each failure is audited, known name or not');
SELECT is((SELECT actor FROM audit_log WHERE action = 'session.failed' AND entity_id IS NULL),
          'client:127.0.0.2', 'by the client address');
SELECT ok((SELECT after::text !~ 'amy|argon2' FROM audit_log WHERE action = 'session.failed' AND entity_id IS NOT NULL),
          'with neither the name typed nor a hash');

-- Sessions.
SELECT is(careline_api_session_start((SELECT id FROM operators WHERE name = 'amy'), sha256('s1'), 900) ->> 'status',
          '201', 'a verified sign-in starts a session');
SELECT is((SELECT t.role || ':' || t.token_prefix FROM sessions s JOIN api_tokens t ON t.id = s.token_id
           WHERE s.token_hash = sha256('s1')), 'operator:cls_', 'with an API token of its own, of the operator''s role');
SELECT is((SELECT count(*) FROM careline_token_auth(sha256('s1'))), 0::bigint,
          'the session''s hash is not itself a token');
SELECT is((SELECT name FROM careline_session_auth(sha256('s1'), 900)), 'amy', 'the session authenticates');
SELECT is((SELECT count(*) FROM careline_session_auth(sha256('nope'), 900)), 0::bigint, 'an unknown one does not');
UPDATE sessions SET created_at = now() - interval '20 minutes', last_seen_at = now() - interval '20 minutes'
WHERE token_hash = sha256('s1');
SELECT is((SELECT count(*) FROM careline_session_auth(sha256('s1'), 900)), 0::bigint,
          'a session idle past the timeout is dead');
UPDATE sessions SET last_seen_at = now() - interval '40 seconds' WHERE token_hash = sha256('s1');
SELECT is((SELECT count(*) FROM careline_session_auth(sha256('s1'), 900)), 1::bigint, 'one seen 40 s ago lives ...');
SELECT is((SELECT last_seen_at FROM sessions WHERE token_hash = sha256('s1')), now(), '... and is touched');
SELECT is(careline_session_end(sha256('s1')) ->> 'status', '204', 'sign-out');
SELECT is((SELECT count(*) FROM careline_session_auth(sha256('s1'), 900)), 0::bigint, 'ends the session');
SELECT ok((SELECT t.revoked_at IS NOT NULL FROM sessions s JOIN api_tokens t ON t.id = s.token_id
           WHERE s.token_hash = sha256('s1')), 'and revokes its token');
SELECT careline_api_session_start(:ben, sha256('s2'), 900) \g /dev/null
SELECT careline_api_tokens_revoke('cli', (SELECT token_id FROM sessions WHERE token_hash = sha256('s2'))) \g /dev/null
SELECT is((SELECT count(*) FROM careline_session_auth(sha256('s2'), 900)), 0::bigint,
          'revoking the session''s token ends the session');
UPDATE operators SET disabled_at = now() WHERE name = 'amy';
SELECT is(careline_api_session_start((SELECT id FROM operators WHERE name = 'amy'), sha256('s3'), 900)
              #>> '{body,error,code}', 'invalid_credentials', 'a disabled operator cannot sign in');
SELECT is((SELECT id FROM careline_login_lookup('amy')), NULL::bigint, 'nor is found by the lookup');

-- API tokens.
SELECT is(careline_api_tokens_create('cli', 'pbx', 'provider', NULL, sha256('t1'), 'clt_1') #>> '{body,error,code}',
          'missing_field', 'a provider token needs its provider');
SELECT is(careline_api_tokens_create('cli', 'pbx', 'operator', NULL, sha256('t1'), 'clt_1') ->> 'status', '201',
          'an operator token is created');
SELECT is((SELECT role FROM careline_token_auth(sha256('t1'))), 'operator', 'and authenticates');
UPDATE api_tokens SET expires_at = now() - interval '1 second', created_at = now() - interval '1 hour'
WHERE token_hash = sha256('t1');
SELECT is((SELECT count(*) FROM careline_token_auth(sha256('t1'))), 0::bigint, 'an expired token does not');

SELECT * FROM finish();
ROLLBACK;
