package io.bighorn.dataplane.replica;

import java.io.IOException;

/** A request carried an epoch lower than the highest the replica has accepted: it came from a stale engine. */
public final class StaleEpochException extends IOException {
    private static final long serialVersionUID = 1L;

    public StaleEpochException(long given, long current) {
        super("stale epoch " + given + ": the replica has accepted epoch " + current);
    }
}
