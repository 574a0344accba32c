package io.bighorn.common;

import java.util.ArrayList;
import java.util.List;

/**
 * Holds back the sends of one thread so that many go out in one system call, like the block layer's plug.
 *
 * <p>A thread that handles a burst of work (an NBD connection's reader with a buffer full of requests, a
 * replica connection's reader with a buffer full of replies) {@linkplain #begin begins} a plug. While it
 * is plugged, an output that supports plugging (a replica connection, an NBD connection's replies) queues
 * what this thread sends and {@linkplain #hold holds} itself in the plug instead of writing; the thread
 * {@linkplain #flush flushes} the plug when the burst is over, and each held output writes everything
 * queued at once.
 *
 * <p>The rule that keeps it safe: <b>a plugged thread flushes before it blocks</b> (waits for input, a
 * permit, a lock), since what it holds back may be what it waits for. Threads that never begin a plug
 * (virtual threads, say) are unaffected: their sends go out at once.
 */
public final class Plug {
    private static final ThreadLocal<Plug> CURRENT = new ThreadLocal<>();

    /** An output that can queue sends and write them later, in one go. */
    @FunctionalInterface
    public interface Output {
        /** Writes everything queued; called by the plugged thread, never under the output's own lock. */
        void flushPlugged();
    }

    private final List<Output> held = new ArrayList<>(8);
    private final List<Output> flushing = new ArrayList<>(8);

    private Plug() {}

    /** Plugs the calling platform thread (a no-op returning the plug if it already is). */
    public static Plug begin() {
        Plug plug = CURRENT.get();
        if (plug == null) {
            plug = new Plug();
            CURRENT.set(plug);
        }
        return plug;
    }

    /** The calling thread's plug, or null when its sends should go out at once. */
    public static Plug current() {
        return Thread.currentThread().isVirtual() ? null : CURRENT.get();
    }

    /** Called by an output that queued a send of the plugged thread: it is flushed with the plug. */
    public void hold(Output output) {
        for (int i = 0; i < held.size(); i++) {
            if (held.get(i) == output) {
                return;
            }
        }
        held.add(output);
    }

    /** Writes what every held output queued. */
    public void flush() {
        while (!held.isEmpty()) {
            flushing.addAll(held);
            held.clear();
            try {
                for (Output o : flushing) {
                    o.flushPlugged();
                }
            } finally {
                flushing.clear();
            }
        }
    }

    /** Flushes and unplugs the thread. */
    public void end() {
        try {
            flush();
        } finally {
            CURRENT.remove();
        }
    }
}
