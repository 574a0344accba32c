package io.bighorn.manager.store;

/** Why a store operation was refused; a closed set the API maps to HTTP statuses. */
public sealed class StoreException extends RuntimeException
        permits StoreException.NotFound, StoreException.AlreadyExists, StoreException.Conflict {
    StoreException(String message) {
        super(message);
    }

    public static final class NotFound extends StoreException {
        NotFound(String kind, String name) {
            super(kind + " '" + name + "' does not exist");
        }
    }

    public static final class AlreadyExists extends StoreException {
        AlreadyExists(String kind, String name) {
            super(kind + " '" + name + "' already exists");
        }
    }

    /** The object changed since it was read: read it again and retry. */
    public static final class Conflict extends StoreException {
        Conflict(String kind, String name, long expected, long actual) {
            super(kind + " '" + name + "' was modified (version " + actual + ", not " + expected
                    + "): read it again and retry");
        }
    }
}
