package io.bighorn.dataplane.wire;

import io.bighorn.dataplane.blockdev.NoSpaceException;
import io.bighorn.dataplane.blockdev.OutOfRangeException;
import io.bighorn.dataplane.replica.SnapshotException;
import io.bighorn.dataplane.replica.StaleEpochException;
import java.io.IOException;

/**
 * A reply's outcome. Errors travel as a code plus the replica's message, and the client turns them back
 * into the replica's exception types, classified by type on the server, never by message text.
 */
enum Status {
    OK(0),
    /** {@link OutOfRangeException}: outside the volume or misaligned; nothing was done. */
    OUT_OF_RANGE(1),
    /** {@link NoSpaceException}: the replica's disk is full. */
    NO_SPACE(2),
    /** {@link StaleEpochException}; the reply's epoch field holds the replica's epoch. */
    STALE_EPOCH(3),
    /** {@link SnapshotException}: unknown, duplicate, reserved or removed snapshot. */
    SNAPSHOT(4),
    /** Any other {@link IllegalArgumentException}, e.g. a snapshot name that breaks the name rule. */
    INVALID(5),
    /** Any other failure of the replica; the message says what. */
    IO(6),
    /** The peer broke the protocol or failed authentication; the connection is closed after this. */
    PROTOCOL(7);

    private final int code;

    Status(int code) {
        this.code = code;
    }

    byte code() {
        return (byte) code;
    }

    static Status of(byte code) throws ProtocolException {
        for (Status s : values()) {
            if (s.code == code) {
                return s;
            }
        }
        throw new ProtocolException("unknown status " + (code & 0xff));
    }

    /** The status a replica's exception travels as. */
    static Status of(Throwable e) {
        return switch (e) {
            case OutOfRangeException _ -> OUT_OF_RANGE;
            case NoSpaceException _ -> NO_SPACE;
            case StaleEpochException _ -> STALE_EPOCH;
            case SnapshotException _ -> SNAPSHOT;
            case IllegalArgumentException _ -> INVALID;
            default -> IO;
        };
    }

    /**
     * The exception a client raises for an error reply.
     *
     * @param requestEpoch the epoch the request carried (for {@code STALE_EPOCH})
     * @param replicaEpoch the reply's epoch field
     * @param address the replica's address, named in {@code IO} and {@code PROTOCOL} errors
     */
    Exception toException(String message, long requestEpoch, long replicaEpoch, String address) {
        return switch (this) {
            case OK -> throw new IllegalStateException("not an error");
            case OUT_OF_RANGE -> new OutOfRangeException(message);
            case NO_SPACE -> new NoSpaceException(message);
            case STALE_EPOCH -> new StaleEpochException(requestEpoch, replicaEpoch);
            case SNAPSHOT -> new SnapshotException(message);
            case INVALID -> new IllegalArgumentException(message);
            case IO -> new IOException("replica " + address + ": " + message);
            case PROTOCOL -> new ProtocolException("replica " + address + ": " + message);
        };
    }
}
