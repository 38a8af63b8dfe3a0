-- The time bank: a double-entry ledger whose transactions balance, posted
-- by careline_timebank_post / _grant and by a volunteer's completed
-- companionship job; and the timebank report that checks it.
\ir lib/fixtures.sql
SELECT plan(33);
SET LOCAL careline.companionship_minutes = '45';

SELECT pg_temp.residents('Wang Fang') \g /dev/null
INSERT INTO volunteers (name, phone, location, availability, notify_url, notify_secret) VALUES
    ('Chen Jie', '13800000001', 'SRID=4326;POINT(113.1901 27.8801)', 'Mo-Su 00:00-23:59',
     'http://chen.test/hook', 'whsec_Y2hlbg==');
INSERT INTO volunteer_services (volunteer_id, resident_id, kind, minutes, at) VALUES
    ((SELECT id FROM volunteers), (SELECT id FROM residents), 'chores', 90, now());
INSERT INTO volunteer_services (volunteer_id, resident_id, kind, minutes, at) VALUES
    ((SELECT id FROM volunteers), NULL, 'community', 30, now());

CREATE FUNCTION pg_temp.svc(p_kind text) RETURNS bigint LANGUAGE sql AS
$$ SELECT id FROM volunteer_services WHERE kind = p_kind $$;
CREATE FUNCTION pg_temp.balance(p_kind text) RETURNS bigint LANGUAGE sql AS
$$ SELECT balance_minutes FROM timebank_accounts WHERE kind = p_kind $$;

-- A volunteer gets a provider row and an account; a resident served gets one.
SELECT is((SELECT services FROM providers WHERE volunteer_id = (SELECT id FROM volunteers)),
          '{companionship}'::text[], 'a volunteer is a companionship provider ...');
SELECT is((SELECT count(*) FROM provider_hours h JOIN providers p ON p.id = h.provider_id
           WHERE p.volunteer_id IS NOT NULL), 7::bigint, '... open in their availability');
SELECT is((SELECT array_agg(kind ORDER BY kind) FROM timebank_accounts), ARRAY['resident', 'volunteer'],
          'the volunteer and the resident served have accounts');

-- Earn, then spend.
SELECT is(careline_timebank_post('token:1', pg_temp.svc('chores'), 'earn') ->> 'status', '201',
          'a service is earned');
SELECT is(ARRAY[pg_temp.balance('pool'), pg_temp.balance('volunteer')], ARRAY[-90, 90]::bigint[],
          'the pool issues 90 minutes to the volunteer');
SELECT is(careline_timebank_post('token:1', pg_temp.svc('chores'), 'earn') #>> '{body,error,code}',
          'already_posted', 'a service is earned once');
SELECT is(careline_timebank_post('token:1', pg_temp.svc('chores'), 'spend') #>> '{body,error,code}',
          'insufficient_balance', 'a resident with no minutes cannot spend');
SELECT is(careline_timebank_grant('token:1', (SELECT id FROM timebank_accounts WHERE kind = 'resident'),
                                  60, '   ') #>> '{body,error,code}', 'missing_field',
          'a grant needs a note');
SELECT is(careline_timebank_grant('token:1', (SELECT id FROM timebank_accounts WHERE kind = 'pool'),
                                  60, 'why') #>> '{body,error,code}', 'account_not_found',
          'the pool cannot be granted to');
SELECT is(careline_timebank_grant('token:1', (SELECT id FROM timebank_accounts WHERE kind = 'resident'),
                                  100, 'banked before the ledger') #>> '{body,balance_minutes}', '100',
          'a grant gives the resident 100 minutes');
SELECT is(careline_timebank_post('token:1', pg_temp.svc('chores'), 'spend', 91) #>> '{body,error,field}',
          'minutes', 'a spend over the service''s minutes is refused');
SELECT is(careline_timebank_post('token:1', pg_temp.svc('chores'), 'spend', 80) ->> 'status', '201',
          'the resident spends 80 of the 90 minutes');
SELECT is(ARRAY[pg_temp.balance('pool'), pg_temp.balance('volunteer'), pg_temp.balance('resident')],
          ARRAY[-110, 90, 20]::bigint[], 'balances: pool -110, volunteer 90, resident 20');
SELECT is(careline_timebank_post('token:1', pg_temp.svc('community'), 'spend') #>> '{body,error,code}',
          'no_recipient', 'nobody spends for a community service');
SELECT is(careline_timebank_post('token:1', NULL, 'earn') #>> '{body,error,code}', 'missing_field',
          'an entry must be traceable to a service');
SELECT is(careline_timebank_post('token:1', pg_temp.svc('chores'), 'give') #>> '{body,error,code}',
          'invalid_value', 'kind is earn or spend');

-- The ledger's own rules, checked now rather than at commit.
SET CONSTRAINTS timebank_entries_balanced IMMEDIATE;
SELECT is((SELECT sum(amount_minutes) FROM timebank_entries), 0::bigint, 'the ledger sums to zero');
SELECT is((SELECT count(*) FROM timebank_accounts a WHERE a.balance_minutes <>
           (SELECT coalesce(sum(e.amount_minutes), 0) FROM timebank_entries e WHERE e.account_id = a.id)),
          0::bigint, 'every balance is the sum of its entries');
SELECT throws_like(format($$INSERT INTO timebank_entries (txn_id, kind, account_id, amount_minutes, note, actor)
                            VALUES (nextval('timebank_txn_seq'), 'grant', %s, 5, 'one-sided', 'test')$$,
                          (SELECT id FROM timebank_accounts WHERE kind = 'resident')),
                   '%does not balance%', 'a one-sided entry does not balance');
SELECT throws_like(format($$INSERT INTO timebank_entries (txn_id, kind, account_id, amount_minutes, note, actor)
                            VALUES (-1, 'grant', %s, 5, 'x', 'test'), (-1, 'grant', %s, -5, 'x', 'test')$$,
                          (SELECT id FROM timebank_accounts WHERE kind = 'pool'),
                          (SELECT id FROM timebank_accounts WHERE kind = 'resident')),
                   '%malformed%', 'a grant that takes from the resident into the pool is malformed');
SELECT throws_like($$UPDATE timebank_entries SET amount_minutes = 1$$, '%append-only%',
                   'entries are never changed');
SELECT throws_like($$DELETE FROM timebank_entries$$, '%append-only%', 'nor deleted');
SELECT throws_ok($$UPDATE timebank_accounts SET balance_minutes = -1 WHERE kind = 'resident'$$, '23514', NULL,
                 'only the pool may go below zero');

-- A volunteer's companionship job, completed, credits the ledger in the
-- same transaction (careline.companionship_minutes = 45).
INSERT INTO calls (resident_id, caller_phone, service, wanted_at, status)
SELECT id, phone, 'companionship', now(), 'accepted' FROM residents;
INSERT INTO offers (call_id, provider_id, rank, travel_minutes, status, offered_at, answered_at, respond_by)
SELECT (SELECT id FROM calls), (SELECT id FROM providers WHERE volunteer_id IS NOT NULL), 1, 1,
       'accepted', now(), now(), now();
SELECT is(careline_api_offers_answer('token:1', (SELECT id FROM offers), NULL, NULL, 'completed', NULL, NULL)
              ->> 'status', '200', 'the volunteer completes the job');
SELECT is((SELECT minutes FROM volunteer_services WHERE call_id = (SELECT id FROM calls)), 45,
          'a service record of 45 minutes is made for the call');
SELECT is(pg_temp.balance('volunteer'), 135::bigint, 'the volunteer earns 45 minutes');
SELECT is(pg_temp.balance('resident'), 20::bigint,
          'the resident, with 20 minutes banked, does not pay for 45: the pool does');
SELECT is((SELECT count(*) FROM events WHERE type = 'timebank.credited'), 1::bigint,
          'the operators hear timebank.credited');

-- The report agrees with the ledger.
SELECT is(careline_api_reports_get('timebank', NULL) #>> '{body,figures,ledger_balanced}', 'true',
          'the timebank report: the ledger balances');
SELECT is(careline_api_reports_get('timebank', NULL) #>> '{body,figures,balances_match_entries}', 'true',
          'the timebank report: balances match entries');
SELECT is(careline_api_reports_get('timebank', NULL) #>> '{body,figures,minutes_earned}', '135',
          'the timebank report: 135 minutes earned');

-- The one place a ledger transaction is written.
SELECT pg_temp.balance('pool') AS pool0, pg_temp.balance('resident') AS res0 \gset
SELECT careline_timebank_txn('grant', (SELECT id FROM timebank_accounts WHERE kind = 'pool'),
                             (SELECT id FROM timebank_accounts WHERE kind = 'resident'), 7, NULL,
                             'a test grant', 'token:9') AS tx \gset
SELECT results_eq(format($$SELECT a.kind, e.kind, e.amount_minutes, e.note, e.actor
                           FROM timebank_entries e JOIN timebank_accounts a ON a.id = e.account_id
                           WHERE e.txn_id = %s ORDER BY e.id$$, :tx),
                  $$VALUES ('pool'::text, 'grant'::text, -7, 'a test grant'::text, 'token:9'::text),
                           ('resident', 'grant', 7, 'a test grant', 'token:9')$$,
                  'careline_timebank_txn: two entries under the txn id it returns, the pool''s first');
SELECT is(ARRAY[pg_temp.balance('pool') - :pool0, pg_temp.balance('resident') - :res0], ARRAY[-7, 7]::bigint[],
          'careline_timebank_txn: the minutes move from the pool to the party');

SELECT * FROM finish();
ROLLBACK;
