package io.bighorn.dataplane.replica;

import io.bighorn.dataplane.blockdev.NoSpaceException;
import java.io.IOException;

/** Turns the JDK's untyped "No space left on device" into {@link NoSpaceException}. */
final class NoSpace {
    private NoSpace() {}

    /**
     * The JDK's file APIs report ENOSPC only as text; this is the one place that reads it, so that every
     * other layer can classify by type.
     */
    static IOException classify(IOException e, String what) {
        if (e instanceof NoSpaceException) {
            return e;
        }
        String m = e.getMessage();
        if (m != null && (m.contains("No space left on device") || m.contains("Disk quota exceeded"))) {
            NoSpaceException n = new NoSpaceException(what + ": no space left on device");
            n.initCause(e);
            return n;
        }
        return e;
    }
}
