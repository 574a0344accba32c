package io.bighorn.dataplane.engine;

import io.bighorn.dataplane.replica.ReplicaEndpoint;
import java.util.concurrent.atomic.AtomicInteger;

/** One replica inside an engine: its endpoint, mode and load. Mode changes go through {@link Engine}. */
final class Member {
    final ReplicaEndpoint endpoint;
    final AtomicInteger outstanding = new AtomicInteger();
    volatile Mode mode;
    volatile String reason;
    volatile long revision;

    Member(ReplicaEndpoint endpoint, Mode mode) {
        this.endpoint = endpoint;
        this.mode = mode;
    }

    String address() {
        return endpoint.address();
    }

    ReplicaState state() {
        return new ReplicaState(address(), mode, reason, revision);
    }
}
