package io.bighorn.dataplane.engine;

import java.io.IOException;

/** No replica in RW mode is left to serve the request: the volume fails I/O until a repair. */
public final class NoHealthyReplicaException extends IOException {
    private static final long serialVersionUID = 1L;

    public NoHealthyReplicaException(String message) {
        super(message);
    }
}
