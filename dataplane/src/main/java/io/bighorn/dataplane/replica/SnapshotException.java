package io.bighorn.dataplane.replica;

/** A snapshot operation that cannot be done as asked: unknown or duplicate name, removed target, bad size. */
public final class SnapshotException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    public SnapshotException(String message) {
        super(message);
    }
}
