package io.bighorn.manager.reconcile;

import static org.assertj.core.api.Assertions.assertThat;

import io.bighorn.manager.model.Kind;
import io.bighorn.manager.model.Meta;
import io.bighorn.manager.model.Node;
import io.bighorn.manager.model.Replica;
import io.bighorn.manager.model.Volume;
import io.bighorn.manager.settings.Settings;
import io.bighorn.manager.store.Store;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The volume controller's steps against in-memory agents and engines, with time moved by the test. */
class VolumeControllerTest {
    @TempDir
    Path dir;

    private final FakeCluster fakes = new FakeCluster();
    private final FakeCluster.TestClock clock = new FakeCluster.TestClock();
    private Store store;
    private Settings settings;
    private NodeController nodes;
    private VolumeController volumes;
    private BackupController backups;

    @BeforeEach
    void start() throws Exception {
        store = Store.open(dir.resolve("db"), clock);
        settings = new Settings(store);
        settings.set(Settings.REPLENISHMENT_WAIT, "60");
        settings.set(Settings.NODE_DOWN_TIMEOUT, "10");
        Observations observed = new Observations();
        nodes = new NodeController(store, settings, observed, fakes.agentConnector(), clock);
        volumes =
                new VolumeController(store, settings, observed, fakes.agentConnector(), fakes.engineConnector(), clock);
        backups = new BackupController(store, settings, fakes.agentConnector(), clock);
        for (String n : List.of("n1", "n2", "n3", "n4")) {
            fakes.agent(n);
            heartbeat(n);
        }
    }

    @AfterEach
    void stop() throws Exception {
        store.close();
    }

    private void heartbeat(String node) {
        nodes.heartbeat(new NodeController.Heartbeat(node, node, node + ":10809", "", List.of()));
    }

    /** One manager pass: heartbeats of the live agents, node checks and polls, every volume reconciled. */
    private void pass() {
        fakes.agents.values().stream().filter(a -> !a.down).forEach(a -> heartbeat(a.node));
        nodes.checkHeartbeats();
        store.list(Kind.NODE).forEach(nodes::poll);
        store.list(Kind.VOLUME).forEach(v -> volumes.reconcile(v.name()));
        store.list(Kind.BACKUP).forEach(b -> backups.reconcile(b.name()));
    }

    private void passUntil(BooleanSupplier done) {
        for (int i = 0; i < 20; i++) {
            if (done.getAsBoolean()) {
                return;
            }
            pass();
        }
        assertThat(done.getAsBoolean())
                .as("converged within 20 passes: %s", volume())
                .isTrue();
    }

    private Volume volume() {
        return store.get(Kind.VOLUME, "v").orElseThrow();
    }

    private List<Replica> replicas() {
        return store.list(Kind.REPLICA);
    }

    private String state() {
        return volume().status().state().value() + "/"
                + volume().status().robustness().value();
    }

    private void createAndAttach() {
        store.create(
                Kind.VOLUME,
                new Volume(
                        Meta.named("v"),
                        new Volume.Spec(1L << 30, 3, "disabled", Set.of(), Set.of(), "", ""),
                        Volume.Status.initial()));
        passUntil(() -> state().equals("detached/healthy"));
        Volume v = volume();
        store.update(Kind.VOLUME, v.withSpec(v.spec().withNodeId("n1")));
        passUntil(() -> state().equals("attached/healthy"));
    }

    private String aReplicaNodeButTheEngines() {
        return replicas().stream()
                .map(r -> r.spec().node())
                .filter(n -> !n.equals("n1"))
                .findFirst()
                .orElseThrow();
    }

    @Test
    void aVolumeIsPlacedOnDistinctNodesStartedAndAttached() {
        createAndAttach();
        assertThat(replicas())
                .extracting(r -> r.spec().node())
                .doesNotHaveDuplicates()
                .hasSize(3);
        assertThat(replicas())
                .allMatch(r -> r.status().mode().equals("RW") && r.spec().healthyAt() != null);
        assertThat(volume().status().endpoint()).isEqualTo("nbd://n1:10809/v");
        assertThat(fakes.engines.get("engine@n1").modes).hasSize(3).containsValue("RW");
        // a pass with nothing to do writes nothing
        long version = store.resourceVersion();
        pass();
        assertThat(store.resourceVersion()).isEqualTo(version);
    }

    @Test
    void aDownNodeDegradesTheVolumeWhichIsRebuiltElsewhereAfterTheWait() {
        createAndAttach();
        String lost = aReplicaNodeButTheEngines();
        String spare = List.of("n2", "n3", "n4").stream()
                .filter(n -> replicas().stream().noneMatch(r -> r.spec().node().equals(n)))
                .findFirst()
                .orElseThrow();
        fakes.agent(lost).down = true;
        clock.advance(Duration.ofSeconds(11));
        passUntil(() -> state().equals("attached/degraded"));
        assertThat(store.get(Kind.NODE, lost).map(Node::status).orElseThrow().ready())
                .isFalse();
        assertThat(fakes.engines.get("engine@n1").modes).hasSize(2);
        pass();
        assertThat(replicas()).hasSize(3); // the wait has not passed: no new replica yet
        clock.advance(Duration.ofSeconds(61));
        passUntil(() -> replicas().stream().anyMatch(r -> r.spec().node().equals(spare)));
        passUntil(() -> fakes.engines.get("engine@n1").modes.containsValue("WO"));
        fakes.engines.get("engine@n1").finishRebuilds();
        passUntil(() -> state().equals("attached/healthy") && replicas().size() == 3);
        assertThat(replicas())
                .extracting(r -> r.spec().node())
                .doesNotContain(lost)
                .contains(spare);
    }

    @Test
    void aReplicaBackBeforeTheWaitIsResyncedInsteadOfReplaced() {
        createAndAttach();
        String lost = aReplicaNodeButTheEngines();
        fakes.agent(lost).down = true;
        clock.advance(Duration.ofSeconds(11));
        passUntil(() -> state().equals("attached/degraded"));
        fakes.agent(lost).down = false;
        passUntil(() -> fakes.engines.get("engine@n1").modes.containsValue("WO"));
        fakes.engines.get("engine@n1").finishRebuilds();
        passUntil(() -> state().equals("attached/healthy"));
        assertThat(replicas()).hasSize(3).extracting(r -> r.spec().node()).contains(lost);
        assertThat(replicas()).noneMatch(r -> r.spec().failed());
    }

    @Test
    void detachStopsTheEngineAndDeleteRemovesEverything() {
        createAndAttach();
        Volume v = volume();
        store.update(Kind.VOLUME, v.withSpec(v.spec().withNodeId("")));
        passUntil(() -> state().equals("detached/healthy"));
        assertThat(fakes.engines).isEmpty();
        v = volume();
        store.update(Kind.VOLUME, v.withMeta(v.meta().withDeletionRequestedAt(clock.instant())));
        passUntil(() -> store.get(Kind.VOLUME, "v").isEmpty());
        assertThat(replicas()).isEmpty();
        assertThat(fakes.agents.values())
                .allMatch(a -> a.instances.values().stream()
                        .noneMatch(i -> i.getKind() == io.bighorn.agent.v1.InstanceKind.REPLICA));
    }

    @Test
    void afterTheAttachNodesAgentRestartsTheEngineIsStartedAgain() {
        createAndAttach();
        FakeCluster.FakeAgent n1 = fakes.agent("n1");
        synchronized (n1) { // what a restarted agent reports: its replicas' data, stopped; no engine
            n1.instances.replaceAll((name, i) -> i.toBuilder()
                    .setState(io.bighorn.agent.v1.InstanceState.STOPPED)
                    .clearAddress()
                    .build());
            n1.instances.values().removeIf(i -> i.getKind() == io.bighorn.agent.v1.InstanceKind.ENGINE);
        }
        fakes.engines.clear();
        passUntil(() -> fakes.engines.containsKey("engine@n1") && state().equals("attached/healthy"));
        assertThat(fakes.engines.get("engine@n1").modes).hasSize(3);
    }

    @Test
    void aBackupRunsOnTheAttachNodeAndItsProgressIsFollowed() {
        createAndAttach();
        settings.set(Settings.BACKUP_TARGET, "file:///backups");
        store.create(
                Kind.BACKUP,
                new io.bighorn.manager.model.Backup(
                        Meta.named("backup-1"),
                        new io.bighorn.manager.model.Backup.Spec("v", "s1", java.util.Map.of()),
                        io.bighorn.manager.model.Backup.Status.pending()));
        passUntil(() -> store.get(Kind.BACKUP, "backup-1")
                .orElseThrow()
                .status()
                .state()
                .equals("running"));
        assertThat(fakes.agent("n1").backups).containsKey("backup-1");
        synchronized (fakes.agent("n1")) {
            fakes.agent("n1")
                    .backups
                    .computeIfPresent(
                            "backup-1",
                            (n, j) -> j.toBuilder()
                                    .setState("completed")
                                    .setBytesDone(100)
                                    .setUrl("file:///backups?backup=backup-1&volume=v")
                                    .build());
        }
        passUntil(
                () -> store.get(Kind.BACKUP, "backup-1").orElseThrow().status().finished());
        var done = store.get(Kind.BACKUP, "backup-1").orElseThrow().status();
        assertThat(done.state()).isEqualTo("completed");
        assertThat(done.node()).isEqualTo("n1");
        assertThat(done.url()).contains("backup=backup-1");
    }

    @Test
    void snapshotObjectsMirrorTheEnginesChainAndOutliveADetach() {
        createAndAttach();
        FakeCluster.FakeEngine engine = fakes.engines.get("engine@n1");
        engine.createSnapshot("s1", java.util.Map.of("k", "v"));
        engine.createSnapshot("s2", java.util.Map.of());
        passUntil(() -> store.list(Kind.SNAPSHOT).size() == 2);
        var s1 = store.get(Kind.SNAPSHOT, "v/s1").orElseThrow();
        assertThat(s1.spec().volume()).isEqualTo("v");
        assertThat(s1.spec().snapshot()).isEqualTo("s1");
        assertThat(s1.status().labels()).containsEntry("k", "v");
        engine.deleteSnapshot("s1");
        passUntil(() -> store.get(Kind.SNAPSHOT, "v/s1").isEmpty());

        Volume v = volume();
        store.update(Kind.VOLUME, v.withSpec(v.spec().withNodeId("")));
        passUntil(() -> state().startsWith("detached"));
        assertThat(store.list(Kind.SNAPSHOT)).extracting(x -> x.name()).containsExactly("v/s2");

        v = volume();
        store.update(Kind.VOLUME, v.withMeta(v.meta().withDeletionRequestedAt(clock.instant())));
        passUntil(() -> store.get(Kind.VOLUME, "v").isEmpty());
        assertThat(store.list(Kind.SNAPSHOT)).isEmpty();
    }

    @Test
    void aBackupOfADetachedVolumeFailsWithAReason() {
        store.create(
                Kind.BACKUP,
                new io.bighorn.manager.model.Backup(
                        Meta.named("backup-2"),
                        new io.bighorn.manager.model.Backup.Spec("nope", "s1", java.util.Map.of()),
                        io.bighorn.manager.model.Backup.Status.pending()));
        settings.set(Settings.BACKUP_TARGET, "file:///backups");
        pass();
        var s = store.get(Kind.BACKUP, "backup-2").orElseThrow().status();
        assertThat(s.state()).isEqualTo("error");
        assertThat(s.error()).contains("not attached");
    }

    @Test
    void loweringTheReplicaCountRemovesASurplusReplica() {
        createAndAttach();
        Volume v = volume();
        store.update(Kind.VOLUME, v.withSpec(v.spec().withNumberOfReplicas(2)));
        passUntil(() -> replicas().size() == 2 && state().equals("attached/healthy"));
        assertThat(fakes.engines.get("engine@n1").modes).hasSize(2);
    }

    @Test
    void bestEffortDataLocalityMovesAReplicaToTheAttachNode() {
        store.create(
                Kind.VOLUME,
                new Volume(
                        Meta.named("v"),
                        new Volume.Spec(1L << 30, 2, "best-effort", Set.of(), Set.of(), "", ""),
                        Volume.Status.initial()));
        passUntil(() -> state().equals("detached/healthy"));
        String free = List.of("n1", "n2", "n3", "n4").stream()
                .filter(n -> replicas().stream().noneMatch(r -> r.spec().node().equals(n)))
                .findFirst()
                .orElseThrow();
        Volume v = volume();
        store.update(Kind.VOLUME, v.withSpec(v.spec().withNodeId(free)));
        passUntil(() -> fakes.engines.containsKey("engine@" + free)
                && fakes.engines.get("engine@" + free).modes.containsValue("WO"));
        fakes.engines.get("engine@" + free).finishRebuilds();
        passUntil(() -> replicas().size() == 2 && state().equals("attached/healthy"));
        assertThat(replicas()).extracting(r -> r.spec().node()).contains(free);
    }

    @Test
    void orphansWithoutObjectsAreRemoved() {
        fakes.agent("n2").createReplica("gone-r-1", "gone", 4096, "default", "");
        pass();
        assertThat(fakes.agent("n2").instances).doesNotContainKey("gone-r-1");
    }

    @Test
    void expandingAnAttachedVolumeGrowsItsEngine() {
        createAndAttach();
        Volume v = volume();
        store.update(Kind.VOLUME, v.withSpec(v.spec().withSize(2L << 30)));
        passUntil(() -> volume().status().currentSize() == 2L << 30);
        assertThat(fakes.engines.get("engine@n1").size).isEqualTo(2L << 30);
        passUntil(() -> replicas().stream().allMatch(r -> r.spec().size() == 2L << 30));
    }

    @Test
    void whenEveryReplicaFailedAutoSalvageBringsBackTheNewest() {
        createAndAttach();
        // the engine loses every replica at once (their disks went read-only, say)
        fakes.engines.get("engine@n1").modes.replaceAll((a, m) -> "ERR");
        passUntil(() -> volume().status().lastAutoSalvagedAt() != null);
        passUntil(() -> state().equals("attached/healthy"));
        assertThat(replicas()).noneMatch(r -> r.spec().failed());
    }

    @Test
    void aVolumeIsSalvagedAtMostOnceAMinute() {
        createAndAttach();
        fakes.engines.get("engine@n1").modes.replaceAll((a, m) -> "ERR");
        passUntil(() -> volume().status().lastAutoSalvagedAt() != null);
        java.time.Instant first = volume().status().lastAutoSalvagedAt();
        passUntil(() -> fakes.engines.containsKey("engine@n1"));
        fakes.engines.get("engine@n1").modes.replaceAll((a, m) -> "ERR");
        for (int i = 0; i < 5; i++) {
            pass();
        }
        assertThat(volume().status().lastAutoSalvagedAt()).isEqualTo(first);
        assertThat(volume().status().robustness()).isEqualTo(Volume.Robustness.FAULTED);
        clock.advance(Duration.ofSeconds(61));
        passUntil(() -> volume().status().lastAutoSalvagedAt().isAfter(first));
        passUntil(() -> state().equals("attached/healthy"));
    }
}
