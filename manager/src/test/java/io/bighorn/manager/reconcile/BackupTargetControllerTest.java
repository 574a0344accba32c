package io.bighorn.manager.reconcile;

import static org.assertj.core.api.Assertions.assertThat;

import io.bighorn.manager.model.Backup;
import io.bighorn.manager.model.BackupTarget;
import io.bighorn.manager.model.BackupVolume;
import io.bighorn.manager.model.Kind;
import io.bighorn.manager.settings.Settings;
import io.bighorn.manager.store.Store;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The backup target's listing, and deletions of backups and backup volumes, against an in-memory target. */
class BackupTargetControllerTest {
    @TempDir
    Path dir;

    private final FakeCluster fakes = new FakeCluster();
    private final FakeCluster.TestClock clock = new FakeCluster.TestClock();
    private Store store;
    private Settings settings;
    private NodeController nodes;
    private BackupTargetController target;
    private BackupController backups;

    @BeforeEach
    void start() throws Exception {
        store = Store.open(dir.resolve("db"), clock);
        settings = new Settings(store);
        nodes = new NodeController(store, settings, new Observations(), fakes.agentConnector(), clock);
        target = new BackupTargetController(store, settings, fakes.agentConnector(), clock);
        backups = new BackupController(store, settings, fakes.agentConnector(), clock);
        fakes.agent("n1");
        nodes.heartbeat(new NodeController.Heartbeat("n1", "n1", "n1:10809", "", List.of()));
    }

    @AfterEach
    void stop() throws Exception {
        store.close();
    }

    private void pass() {
        target.reconcile();
        store.list(Kind.BACKUP).forEach(b -> backups.reconcile(b.name()));
    }

    private BackupTarget backupTarget() {
        return store.get(Kind.BACKUP_TARGET, BackupTarget.DEFAULT).orElseThrow();
    }

    @Test
    void withoutATargetTheObjectSaysSo() {
        pass();
        assertThat(backupTarget().status().available()).isFalse();
        assertThat(backupTarget().status().message()).contains("backup-target setting");
        assertThat(store.list(Kind.BACKUP_VOLUME)).isEmpty();
    }

    @Test
    void aListingDescribesWhatTheTargetHoldsAndIsRepeatedEveryPollInterval() {
        fakes.putBackup("vol1", "backup-a", "s1");
        fakes.putBackup("vol1", "backup-b", "s2");
        fakes.putBackup("vol2", "backup-c", "s1");
        settings.set(Settings.BACKUP_TARGET, "file:///target");
        settings.set(Settings.BACKUPSTORE_POLL_INTERVAL, "60");
        pass();
        assertThat(backupTarget().status().available()).isTrue();
        assertThat(backupTarget().spec().url()).isEqualTo("file:///target");
        assertThat(store.list(Kind.BACKUP_VOLUME))
                .extracting(BackupVolume::name)
                .containsExactly("vol1", "vol2");
        assertThat(store.get(Kind.BACKUP_VOLUME, "vol1").orElseThrow().status().backups())
                .isEqualTo(2);
        Backup adopted = store.get(Kind.BACKUP, "backup-c").orElseThrow();
        assertThat(adopted.status().state()).isEqualTo("completed");
        assertThat(adopted.spec().volume()).isEqualTo("vol2");
        assertThat(adopted.status().url()).contains("backup=backup-c");

        // removed behind the manager's back: noticed at the next listing, not before
        fakes.deleteBackupBehindTheManager("vol2", "");
        clock.advance(Duration.ofSeconds(30));
        pass();
        assertThat(store.get(Kind.BACKUP_VOLUME, "vol2")).isPresent();
        clock.advance(Duration.ofSeconds(31));
        pass();
        assertThat(store.get(Kind.BACKUP_VOLUME, "vol2")).isEmpty();
        assertThat(store.get(Kind.BACKUP, "backup-c")).isEmpty();

        // a sync on request does not wait for the interval
        fakes.putBackup("vol3", "backup-d", "s1");
        clock.advance(Duration.ofSeconds(1));
        BackupTargetController.requestSync(store, clock);
        pass();
        assertThat(store.get(Kind.BACKUP_VOLUME, "vol3")).isPresent();
    }

    @Test
    void anUnreachableTargetIsReportedAndNothingIsRemoved() {
        fakes.putBackup("vol1", "backup-a", "s1");
        settings.set(Settings.BACKUP_TARGET, "file:///target");
        pass();
        fakes.targetDown = true;
        BackupTargetController.requestSync(store, clock);
        clock.advance(Duration.ofSeconds(1));
        pass();
        assertThat(backupTarget().status().available()).isFalse();
        assertThat(backupTarget().status().message()).contains("unreachable");
        assertThat(store.get(Kind.BACKUP_VOLUME, "vol1")).isPresent();
        assertThat(store.get(Kind.BACKUP, "backup-a")).isPresent();
    }

    @Test
    void deletingABackupRemovesItFromTheTargetThenTheObject() {
        fakes.putBackup("vol1", "backup-a", "s1");
        fakes.putBackup("vol1", "backup-b", "s2");
        settings.set(Settings.BACKUP_TARGET, "file:///target");
        pass();
        Backup a = store.get(Kind.BACKUP, "backup-a").orElseThrow();
        store.update(Kind.BACKUP, a.withMeta(a.meta().withDeletionRequestedAt(clock.instant())));
        clock.advance(Duration.ofSeconds(1));
        pass();
        assertThat(store.get(Kind.BACKUP, "backup-a")).isEmpty();
        assertThat(fakes.backupTarget.get("vol1")).containsOnlyKeys("backup-b");
        clock.advance(Duration.ofSeconds(1));
        pass(); // the sync the deletion asked for
        assertThat(store.get(Kind.BACKUP_VOLUME, "vol1").orElseThrow().status().backups())
                .isEqualTo(1);
    }

    @Test
    void deletingABackupVolumeRemovesEveryBackupOfIt() {
        fakes.putBackup("vol1", "backup-a", "s1");
        fakes.putBackup("vol1", "backup-b", "s2");
        fakes.putBackup("vol2", "backup-c", "s1");
        settings.set(Settings.BACKUP_TARGET, "file:///target");
        pass();
        BackupVolume bv = store.get(Kind.BACKUP_VOLUME, "vol1").orElseThrow();
        store.update(Kind.BACKUP_VOLUME, bv.withMeta(bv.meta().withDeletionRequestedAt(clock.instant())));
        pass();
        assertThat(fakes.backupTarget).containsOnlyKeys("vol2");
        assertThat(store.list(Kind.BACKUP_VOLUME))
                .extracting(BackupVolume::name)
                .containsExactly("vol2");
        assertThat(store.list(Kind.BACKUP)).extracting(Backup::name).containsExactly("backup-c");
    }
}
