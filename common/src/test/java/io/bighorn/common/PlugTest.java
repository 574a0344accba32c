package io.bighorn.common;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

class PlugTest {
    /** An output that counts what it queued and wrote. */
    private static final class Counting implements Plug.Output {
        int queued;
        final List<Integer> writes = new ArrayList<>();

        void send() {
            queued++;
            Plug plug = Plug.current();
            if (plug == null) {
                flushPlugged();
            } else {
                plug.hold(this);
            }
        }

        @Override
        public void flushPlugged() {
            if (queued > 0) {
                writes.add(queued);
                queued = 0;
            }
        }
    }

    @Test
    void sendsOfAPluggedThreadGoOutTogetherAtTheFlush() {
        Counting a = new Counting();
        Counting b = new Counting();
        Plug plug = Plug.begin();
        try {
            assertThat(Plug.begin()).isSameAs(plug);
            for (int i = 0; i < 5; i++) {
                a.send();
            }
            b.send();
            assertThat(a.writes).isEmpty();
            plug.flush();
            assertThat(a.writes).containsExactly(5);
            assertThat(b.writes).containsExactly(1);
            a.send();
        } finally {
            plug.end();
        }
        assertThat(a.writes).containsExactly(5, 1);
        assertThat(Plug.current()).isNull();
        a.send();
        assertThat(a.writes).containsExactly(5, 1, 1);
    }

    @Test
    void virtualThreadsAreNeverPlugged() throws Exception {
        Plug.begin();
        try {
            AtomicReference<Plug> seen = new AtomicReference<>(Plug.current());
            Thread t = Thread.ofVirtual().start(() -> {
                Plug.begin();
                seen.set(Plug.current());
            });
            t.join();
            assertThat(seen.get()).isNull();
        } finally {
            Plug.current().end();
        }
    }
}
