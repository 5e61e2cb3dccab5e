"""Kafka clients nobody on kestrel wrote, talking to kestrel's topics.

    clients.py produce BROKERS TOPIC FILE   half the lines with confluent-kafka,
                                            half with kafka-python (key = line number)
    clients.py read BROKERS ALERTS DLQ N_ALERTS N_DLQ
                                            reads both topics with both clients and
                                            prints what each saw as one JSON object
"""

import json
import sys
import time


def need(module):
    try:
        return __import__(module)
    except ImportError:
        sys.exit(f"python module {module!r} is missing: pip install confluent-kafka kafka-python")


def produce(brokers, topic, path):
    ck = need("confluent_kafka")
    kp = need("kafka")
    lines = open(path, "rb").read().splitlines()
    half = len(lines) // 2
    p = ck.Producer({"bootstrap.servers": brokers, "enable.idempotence": True})
    for i, line in enumerate(lines[:half]):
        p.produce(topic, key=str(i).encode(), value=line, headers=[("client", b"confluent-kafka")])
        p.poll(0)
    assert p.flush(60) == 0, "confluent-kafka: not everything was delivered"
    k = kp.KafkaProducer(bootstrap_servers=brokers, acks="all")
    futures = [
        k.send(topic, key=str(i).encode(), value=line, headers=[("client", b"kafka-python")])
        for i, line in enumerate(lines[half:], start=half)
    ]
    for f in futures:
        f.get(timeout=60)
    k.close()


def read_confluent(brokers, topics, want):
    ck = need("confluent_kafka")
    c = ck.Consumer({
        "bootstrap.servers": brokers,
        "group.id": f"ck-{time.time()}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    c.subscribe(topics)
    out = {t: [] for t in topics}
    deadline = time.time() + 60
    while time.time() < deadline and any(len(out[t]) < want[t] for t in topics):
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        out[m.topic()].append(record(m.key(), m.value(), m.headers() or []))
    c.close()
    return out


def read_kafka_python(brokers, topics, want):
    kp = need("kafka")
    c = kp.KafkaConsumer(
        *topics,
        bootstrap_servers=brokers,
        group_id=f"kp-{time.time()}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    out = {t: [] for t in topics}
    deadline = time.time() + 60
    while time.time() < deadline and any(len(out[t]) < want[t] for t in topics):
        for tp, msgs in c.poll(timeout_ms=500).items():
            for m in msgs:
                out[tp.topic].append(record(m.key, m.value, m.headers or []))
    c.close()
    return out


def record(key, value, headers):
    return {
        "key": key.decode() if key is not None else None,
        "value": value.decode("utf-8", "replace") if value is not None else None,
        "headers": {k: (v.decode() if v is not None else None) for k, v in headers},
    }


def main():
    cmd = sys.argv[1]
    if cmd == "produce":
        produce(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "read":
        brokers, alerts, dlq = sys.argv[2], sys.argv[3], sys.argv[4]
        want = {alerts: int(sys.argv[5]), dlq: int(sys.argv[6])}
        print(json.dumps({
            "confluent-kafka": read_confluent(brokers, [alerts, dlq], want),
            "kafka-python": read_kafka_python(brokers, [alerts, dlq], want),
        }))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
