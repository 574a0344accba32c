package io.bighorn.backup.store;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The directory target's writes: blocks with and without O_DIRECT, other files buffered, all exact. */
class FileStoreTest {
    @TempDir
    Path tmp;

    @ParameterizedTest(name = "direct={0}")
    @ValueSource(booleans = {true, false})
    void blocksOfAnyLengthAreStoredExactlyAndNoTemporaryFileIsLeft(boolean direct) throws IOException {
        FileStore store = new FileStore("file://" + tmp, tmp, direct);
        SplittableRandom random = new SplittableRandom(1);
        int[] lengths = {0, 1, 4095, 4096, 4097, (2 << 20) + 13, 5000};
        for (int i = 0; i < lengths.length; i++) {
            // a reused buffer longer than the block, as a backup's compression scratch is
            byte[] buffer = new byte[lengths[i] + 8192];
            random.nextBytes(buffer);
            store.write("v/blocks/ab/cd/block" + i + ".blk", buffer, lengths[i]);
            assertThat(store.read("v/blocks/ab/cd/block" + i + ".blk"))
                    .isEqualTo(java.util.Arrays.copyOf(buffer, lengths[i]));
        }
        // overwriting a block (a full backup rewrites the same name with the same bytes) keeps it whole
        byte[] again = new byte[6000];
        random.nextBytes(again);
        store.write("v/blocks/ab/cd/block1.blk", again, again.length);
        assertThat(store.read("v/blocks/ab/cd/block1.blk")).isEqualTo(again);
        store.write("v/backups/backup_b.cfg", "{}".getBytes(java.nio.charset.StandardCharsets.UTF_8));
        assertThat(store.read("v/backups/backup_b.cfg")).asString().isEqualTo("{}");
        try (Stream<Path> files = Files.walk(tmp)) {
            assertThat(files.filter(Files::isRegularFile)
                            .map(p -> p.getFileName().toString()))
                    .noneMatch(n -> n.contains(".tmp"))
                    .hasSize(lengths.length + 1);
        }
    }
}
