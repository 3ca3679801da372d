"""The audit chain in local DynamoDB: ordered, concurrent-safe, append-only, and verifiable."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pytest

from crisiscomms.aws.clients import AwsClients
from botocore.exceptions import ClientError

from crisiscomms.models.audit import AuditEntry
from crisiscomms.audit.verification import verify_chain
from crisiscomms.audit.cli import main as verify_cli
from crisiscomms.aws.audit_log import AuditLog
from crisiscomms_local.aws import client
from crisiscomms.aws.dynamo import to_item, to_value
from crisiscomms_local.template import load_template, resources_of_type, sam_transform

pytestmark = pytest.mark.integration


def _entry(n: int, actor: str = "li") -> AuditEntry:
    return AuditEntry(actor=actor, role="comms-author", action="edit", target="statement#s1",
                      at=datetime(2026, 11, 28, 9, 0, n % 60, tzinfo=timezone.utc), after={"n": n}, text_hash="ab" * 32)


def _cli_args(stack) -> list[str]:
    return ["--audit-table", stack.refs["AuditTable"], "--state-table", stack.refs["StateTable"],
            "--digest-bucket", stack.refs["AuditDigestBucket"], "--signing-key", stack.arns["AuditSigningKey"]]


def _log(stack) -> AuditLog:
    return AuditLog(stack.refs["AuditTable"], stack.refs["StateTable"], clients=AwsClients(), sleep=lambda s: None)


def test_appends_form_a_verifiable_chain(stack) -> None:
    log = _log(stack)
    records = [log.append(_entry(n)) for n in range(5)]
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5]
    assert records[1]["prev_hash"] == records[0]["hash"]
    result = verify_chain(log.records(), log.head())
    assert result.ok and result.entries == 5
    assert verify_cli(_cli_args(stack)) == 0


def test_concurrent_writers_never_fork_or_lose_an_entry(stack) -> None:
    log = AuditLog(stack.refs["AuditTable"], stack.refs["StateTable"], clients=AwsClients())  # with its real jittered backoff
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            for n in range(8):
                log.append(_entry(n, actor=name))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"writer{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    records = list(log.records())
    assert [r["seq"] for r in records] == list(range(1, 33))
    assert sorted(r["actor"] for r in records) == sorted(f"writer{i}" for i in range(4) for _ in range(8))
    assert verify_chain(records, log.head()).ok


def test_a_burst_of_appends_chains_to_the_head_it_wrote_and_another_writers_entry_is_never_forked(stack) -> None:
    now = [0.0]
    log = AuditLog(stack.refs["AuditTable"], stack.refs["StateTable"], clients=AwsClients(), sleep=lambda s: None,
                   monotonic=lambda: now[0])
    reads: list[str] = []
    log.clients("dynamodb").meta.events.register("before-call.dynamodb", lambda model, **_: reads.append(model.name))
    for n in range(3):
        log.append(_entry(n))
    assert reads == ["GetItem", "TransactWriteItems", "TransactWriteItems", "TransactWriteItems"], \
        "the anchor read once; each later append chains to the head the log wrote"
    _log(stack).append(_entry(3, actor="another-function"))  # the anchor moves under the first log
    reads.clear()
    log.append(_entry(4))
    assert reads == ["TransactWriteItems", "GetItem", "TransactWriteItems"], "refused on the anchor, read, written"
    now[0] += 1.5  # the head it wrote is not relied on for long
    reads.clear()
    log.append(_entry(5))
    assert reads == ["GetItem", "TransactWriteItems"]
    records = list(log.records())
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5, 6]
    assert [r["actor"] for r in records] == ["li", "li", "li", "another-function", "li", "li"]
    assert verify_chain(records, log.head()).ok


def test_a_refused_state_change_appends_nothing(stack) -> None:
    log = _log(stack)
    log.append(_entry(1))
    refused = {"ConditionCheck": {"TableName": stack.refs["StateTable"], "Key": to_item({"pk": "statement#s1"}),
                                  "ConditionExpression": "attribute_exists(pk)"}}
    with pytest.raises(ClientError):
        log.append(_entry(2), with_items=lambda: [refused])
    assert [r["seq"] for r in log.records()] == [1]


def _marker(stack, n: int) -> dict:
    """A change of its own: put marker n, refused when it is there already."""
    return {"Put": {"TableName": stack.refs["StateTable"], "Item": to_item({"pk": f"marker#{n}"}),
                    "ConditionExpression": "attribute_not_exists(pk)"}}


def _transactions(log: AuditLog) -> list[int]:
    """Counts the log's TransactWriteItems calls (the items of each)."""
    sizes: list[int] = []
    log.clients("dynamodb").meta.events.register(
        "before-parameter-build.dynamodb.TransactWriteItems", lambda params, **_: sizes.append(len(params["TransactItems"])))
    return sizes


def test_many_changes_chain_in_order_in_as_few_transactions_as_dynamodb_allows(stack) -> None:
    log = _log(stack)
    log.append(_entry(0))
    sizes = _transactions(log)
    written = log.append_each([(_entry(n), [_marker(stack, n)]) for n in range(1, 61)])
    assert written == [True] * 60
    assert sizes == [99, 23], "49 changes (an entry and a marker each) and the anchor, then the other 11"
    records = list(log.records())
    assert [r["seq"] for r in records] == list(range(1, 62))
    assert [r["after"]["n"] for r in records] == list(range(61))
    assert verify_chain(records, log.head()).ok
    assert all(client("dynamodb").get_item(TableName=stack.refs["StateTable"], Key=to_item({"pk": f"marker#{n}"}))
               .get("Item") for n in range(1, 61))


def test_a_refused_change_among_many_is_left_out_and_the_rest_written(stack) -> None:
    log = _log(stack)
    for n in (2, 5):  # written by someone else already
        client("dynamodb").put_item(TableName=stack.refs["StateTable"], Item=to_item({"pk": f"marker#{n}"}))
    written = log.append_each([(_entry(n), [_marker(stack, n)]) for n in range(1, 7)])
    assert written == [True, False, True, True, False, True]
    records = list(log.records())
    assert [r["after"]["n"] for r in records] == [1, 3, 4, 6], "no entry for a refused change"
    assert [r["seq"] for r in records] == [1, 2, 3, 4] and verify_chain(records, log.head()).ok


def test_batched_and_single_writers_at_once_never_fork_or_lose_an_entry(stack) -> None:
    logs = [AuditLog(stack.refs["AuditTable"], stack.refs["StateTable"], clients=AwsClients()) for _ in range(3)]
    errors: list[BaseException] = []
    results: list[list[bool]] = []

    def batched(log: AuditLog, name: str) -> None:
        try:
            for round_ in range(3):
                results.append(log.append_each([(_entry(n, actor=name), []) for n in range(12)]))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    def single(log: AuditLog) -> None:
        try:
            for n in range(10):
                log.append(_entry(n, actor="single"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=batched, args=(logs[0], "batch0")),
               threading.Thread(target=batched, args=(logs[1], "batch1")), threading.Thread(target=single, args=(logs[2],))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and all(all(r) for r in results)
    records = list(_log(stack).records())
    assert [r["seq"] for r in records] == list(range(1, 3 * 12 * 2 + 10 + 1))
    for name in ("batch0", "batch1"):  # each batch's entries stay together and in order
        mine = [r for r in records if r["actor"] == name]
        assert [r["after"]["n"] for r in mine] == list(range(12)) * 3
    assert verify_chain(records, _log(stack).head()).ok


def _held_first_transaction(log: AuditLog, seconds: float = 0.3) -> list[list[str]]:
    """The log's first TransactWriteItems answers after `seconds` (a slow head: others queue behind it);
    returns the sk or pk of the state items of each transaction, as sent."""
    sent: list[list[str]] = []

    def before(params: dict, **_: object) -> None:
        sent.append([next(iter(item.values()))["Key"]["pk"]["S"] if "Key" in next(iter(item.values()))
                     else next(iter(item.values()))["Item"].get("pk", {}).get("S", "entry")
                     for item in params["TransactItems"]])
        if len(sent) == 1:
            time.sleep(seconds)

    log.clients("dynamodb").meta.events.register("before-parameter-build.dynamodb.TransactWriteItems", before)
    return sent


def _appending_at_once(log: AuditLog, calls: list) -> list:
    """Each of `calls` (an entry and its items) appended from its own thread, the first one first:
    the record or the exception each got, in the order of `calls`."""
    outcomes: list = [None] * len(calls)

    def append(index: int) -> None:
        entry, items = calls[index]
        try:
            outcomes[index] = log.append(entry, with_items=(lambda: items) if items else None)
        except BaseException as exc:  # the outcome under test
            outcomes[index] = exc

    first = threading.Thread(target=append, args=(0,))
    first.start()
    time.sleep(0.1)  # the first holds the head (its transaction answers slowly); the others arrive meanwhile
    others = [threading.Thread(target=append, args=(i,)) for i in range(1, len(calls))]
    for t in others:
        t.start()
    for t in [first, *others]:
        t.join()
    return outcomes


def _moved(stack, n: int) -> dict:
    """A move of an item of its own (as a delivery's or a conversation's): marker n set, refused when it is set."""
    return {"Update": {"TableName": stack.refs["StateTable"], "Key": to_item({"pk": f"marker#{n}"}),
                       "UpdateExpression": "SET moved = :yes", "ConditionExpression": "attribute_not_exists(moved)",
                       "ExpressionAttributeValues": {":yes": to_value(True)}}}


def test_appends_waiting_for_the_head_are_written_together_each_with_its_own_record(stack) -> None:
    log = _log(stack)
    sent = _held_first_transaction(log)
    outcomes = _appending_at_once(log, [(_entry(n), [_moved(stack, n)]) for n in range(8)])
    assert len(sent) == 2, "the first alone, the seven that waited for it in one transaction"
    assert len(sent[1]) == 7 * 2 + 1, "seven entries, the anchor, seven markers"
    assert all(isinstance(o, dict) for o in outcomes), outcomes
    records = list(log.records())
    assert sorted(o["seq"] for o in outcomes) == [r["seq"] for r in records] == list(range(1, 9))
    assert {o["seq"]: o["hash"] for o in outcomes} == {r["seq"]: r["hash"] for r in records}
    assert sorted(r["after"]["n"] for r in records) == list(range(8))
    assert verify_chain(records, log.head()).ok
    assert all(client("dynamodb").get_item(TableName=stack.refs["StateTable"], Key=to_item({"pk": f"marker#{n}"}))
               .get("Item", {}).get("moved") for n in range(8))


def test_a_refused_append_among_those_written_together_gets_its_own_refusal_and_no_entry(stack) -> None:
    client("dynamodb").put_item(TableName=stack.refs["StateTable"], Item=to_item({"pk": "marker#3", "moved": True}))
    log = _log(stack)
    sent = _held_first_transaction(log)
    outcomes = _appending_at_once(log, [(_entry(n), [_moved(stack, n)]) for n in range(6)])
    assert len(sent) == 3, "the first alone, then the five that waited, then the four not refused"
    refused = outcomes[3]
    assert isinstance(refused, ClientError), outcomes
    assert refused.response["Error"]["Code"] == "TransactionCanceledException"
    reasons = [r["Code"] for r in refused.response["CancellationReasons"]]
    assert reasons == ["None", "None", "ConditionalCheckFailed"], "its own item's reason where a lone append has it"
    assert all(isinstance(o, dict) for i, o in enumerate(outcomes) if i != 3), outcomes
    records = list(log.records())
    assert sorted(r["after"]["n"] for r in records) == [0, 1, 2, 4, 5] and verify_chain(records, log.head()).ok


def test_appends_touching_one_item_are_not_joined_and_each_condition_decides(stack) -> None:
    """Two moves of one item: DynamoDB refuses a transaction naming an item twice, so they go one after the other."""
    client("dynamodb").put_item(TableName=stack.refs["StateTable"], Item=to_item({"pk": "counter", "n": 0}))
    log = _log(stack)
    sent = _held_first_transaction(log)

    def bump(expected: int) -> list[dict]:
        return [{"Update": {"TableName": stack.refs["StateTable"], "Key": to_item({"pk": "counter"}),
                            "UpdateExpression": "SET n = :next", "ConditionExpression": "n = :n",
                            "ExpressionAttributeValues": {":n": to_value(expected), ":next": to_value(expected + 1)}}}]

    calls = [(_entry(0), [_moved(stack, 0)]), (_entry(1), bump(0)), (_entry(2), bump(1)), (_entry(3), [_moved(stack, 3)])]
    outcomes = _appending_at_once(log, calls)
    assert all(isinstance(o, dict) for o in outcomes[:2] + outcomes[3:]), outcomes
    counter = client("dynamodb").get_item(TableName=stack.refs["StateTable"], Key=to_item({"pk": "counter"}))["Item"]
    # the second bump is written after the first whichever arrives first, or refused when it came before it
    assert counter["n"]["N"] == ("2" if isinstance(outcomes[2], dict) else "1")
    assert all(s.count("counter") <= 1 for s in sent), sent
    records = list(log.records())
    assert len(records) == sum(isinstance(o, dict) for o in outcomes) and verify_chain(records, log.head()).ok


def test_a_transaction_refused_as_a_whole_is_tried_append_by_append_so_only_the_bad_one_fails(stack) -> None:
    log = _log(stack)
    _held_first_transaction(log)
    malformed = {"Update": {"TableName": stack.refs["StateTable"], "Key": to_item({"pk": "bad"}),
                            "UpdateExpression": "SET n = :missing"}}  # a value never given: refused
    sent = _held_first_transaction(log)
    outcomes = _appending_at_once(log, [(_entry(0), []), (_entry(1), [_moved(stack, 1)]), (_entry(2), [malformed]),
                                        (_entry(3), [_moved(stack, 3)])])
    assert isinstance(outcomes[2], ClientError), outcomes
    assert [len(items) for items in sent] == [2, 7, 3, 3, 3], "alone; the three together, refused; then each alone"
    assert all(isinstance(o, dict) for i, o in enumerate(outcomes) if i != 2), outcomes
    records = list(log.records())
    assert sorted(r["after"]["n"] for r in records) == [0, 1, 3] and verify_chain(records, log.head()).ok


def test_a_joined_transaction_whose_answer_is_lost_tells_every_append_it_carried(stack) -> None:
    """A timeout leaves the outcome unknown for each append of the transaction: each gets it, as it would alone."""
    from botocore.exceptions import ReadTimeoutError

    log = _log(stack)
    sent = _held_first_transaction(log)

    def lost(**_: object) -> None:
        if len(sent) == 2:
            raise ReadTimeoutError(endpoint_url="http://127.0.0.1")

    log.clients("dynamodb").meta.events.register("before-send.dynamodb.TransactWriteItems", lost)
    outcomes = _appending_at_once(log, [(_entry(n), [_moved(stack, n)]) for n in range(4)])
    assert isinstance(outcomes[0], dict)
    assert all(isinstance(o, ReadTimeoutError) for o in outcomes[1:]), outcomes
    assert len(sent) == 2, "not tried again in the log: the callers decide (their messages are retried)"


class _Stop(BaseException):
    """Not an error an append answers with: the writer's thread is stopping (as on KeyboardInterrupt)."""


def test_appends_a_stopped_writer_took_are_written_by_their_own_callers_never_reported_written(stack) -> None:
    log = _log(stack)
    _held_first_transaction(log)

    def stopping() -> list[dict]:
        raise _Stop

    calls: list = [(_entry(n), [_moved(stack, n)]) for n in range(6)]
    outcomes: list = [None] * len(calls)

    def append(index: int) -> None:
        entry, items = calls[index]
        try:
            outcomes[index] = log.append(entry, with_items=stopping if index == 3 else (lambda: items))
        except BaseException as exc:  # the outcome under test
            outcomes[index] = exc

    threads = [threading.Thread(target=append, args=(i,)) for i in range(len(calls))]
    threads[0].start()
    time.sleep(0.1)
    for t in threads[1:]:
        t.start()
    for t in threads:
        t.join()
    assert isinstance(outcomes[3], _Stop)
    written = {o["seq"]: o["hash"] for o in outcomes if isinstance(o, dict)}
    records = list(log.records())
    assert written == {r["seq"]: r["hash"] for r in records}, "every append told it was written is in the chain"
    assert all(isinstance(o, (dict, _Stop)) for o in outcomes), outcomes
    assert len(records) >= len(calls) - 2, "at most the stopped writer's own and the stopping one are missing"
    assert verify_chain(records, log.head()).ok


def test_tampering_is_reported_with_the_first_bad_entry(stack, capsys) -> None:
    log = _log(stack)
    for n in range(4):
        log.append(_entry(n))
    table = stack.refs["AuditTable"]
    client("dynamodb").update_item(TableName=table, Key=to_item({"chain": "audit", "seq": 2}),
                                   UpdateExpression="SET actor = :m", ExpressionAttributeValues={":m": to_value("mallory")})
    assert verify_cli(_cli_args(stack)) == 1
    assert '"first_bad_seq": 2' in capsys.readouterr().out
    client("dynamodb").delete_item(TableName=table, Key=to_item({"chain": "audit", "seq": 2}))
    result = verify_chain(log.records(), log.head())
    assert result.first_bad_seq == 2 and "missing" in result.problem


def test_no_policy_in_the_template_may_change_or_delete_audit_entries() -> None:
    transformed = sam_transform(load_template())
    holders = {name: role["Properties"].get("Policies", []) for name, role in resources_of_type(transformed, "AWS::IAM::Role").items()}
    holders.update({name: [policy["Properties"]] for name, policy in resources_of_type(transformed, "AWS::IAM::Policy").items()})
    for name, policies in holders.items():
        for policy in policies:
            branches = policy["Fn::If"][1:] if "Fn::If" in policy else [policy]
            for branch in branches:
                if not isinstance(branch, dict) or "PolicyDocument" not in branch:
                    continue
                for statement in branch["PolicyDocument"]["Statement"]:
                    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                    resources = statement.get("Resource")
                    touches_audit = "AuditTable" in str(resources) or resources in ("*", ["*"])
                    if touches_audit:
                        assert not {"dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:*"} & set(actions), name
