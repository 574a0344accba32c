package io.bighorn.dataplane.wire;

import static org.assertj.core.api.Assertions.assertThat;

import io.bighorn.dataplane.blockdev.NoSpaceException;
import io.bighorn.dataplane.blockdev.OutOfRangeException;
import io.bighorn.dataplane.replica.SnapshotException;
import io.bighorn.dataplane.replica.StaleEpochException;
import java.io.IOException;
import org.junit.jupiter.api.Test;

class StatusTest {
    private static final String ADDR = "tcp://10.0.0.1:9502";

    @Test
    void replicaExceptionsTravelAsTheirTypes() throws Exception {
        assertRoundTrip(new OutOfRangeException("outside"), OutOfRangeException.class, "outside");
        assertRoundTrip(new NoSpaceException("disk full"), NoSpaceException.class, "disk full");
        assertRoundTrip(new SnapshotException("snapshot s1 already exists"), SnapshotException.class, "s1");
        assertRoundTrip(new IllegalArgumentException("bad name"), IllegalArgumentException.class, "bad name");
        assertRoundTrip(new IOException("EIO"), IOException.class, "replica " + ADDR + ": EIO");
    }

    @Test
    void staleEpochCarriesBothEpochs() throws Exception {
        Status s = Status.of(new StaleEpochException(3, 5));
        assertThat(s).isEqualTo(Status.STALE_EPOCH);
        assertThat(Status.of(s.code())).isEqualTo(s);
        assertThat(s.toException("ignored", 3, 5, ADDR))
                .isInstanceOf(StaleEpochException.class)
                .hasMessage(new StaleEpochException(3, 5).getMessage());
    }

    private static void assertRoundTrip(Exception e, Class<?> type, String message) throws Exception {
        Status s = Status.of(e);
        assertThat(Status.of(s.code())).isEqualTo(s);
        Exception back = s.toException(e.getMessage(), 0, 0, ADDR);
        assertThat(back).isExactlyInstanceOf(type).hasMessageContaining(message);
    }
}
