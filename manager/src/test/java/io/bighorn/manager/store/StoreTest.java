package io.bighorn.manager.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.bighorn.manager.model.Kind;
import io.bighorn.manager.model.Meta;
import io.bighorn.manager.model.Setting;
import io.bighorn.manager.model.Volume;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StoreTest {
    private static final Clock CLOCK = Clock.fixed(Instant.parse("2026-11-22T10:00:00Z"), ZoneOffset.UTC);

    @TempDir
    Path dir;

    private static Volume volume(String name, long size) {
        return new Volume(
                Meta.named(name),
                new Volume.Spec(size, 3, "disabled", Set.of(), Set.of(), "", ""),
                Volume.Status.initial());
    }

    @Test
    void createAssignsIdentityAndVersionsAndSurvivesReopen() throws Exception {
        Volume created;
        try (Store store = Store.open(dir.resolve("db"), CLOCK)) {
            created = store.create(Kind.VOLUME, volume("v1", 1 << 30));
            assertThat(created.meta().uid()).isNotEmpty();
            assertThat(created.meta().generation()).isEqualTo(1);
            assertThat(created.meta().resourceVersion()).isEqualTo(store.resourceVersion());
            assertThat(created.meta().createdAt()).isEqualTo(CLOCK.instant());
            assertThatThrownBy(() -> store.create(Kind.VOLUME, volume("v1", 1)))
                    .isInstanceOf(StoreException.AlreadyExists.class)
                    .hasMessageContaining("v1");
        }
        try (Store store = Store.open(dir.resolve("db"), CLOCK)) {
            assertThat(store.get(Kind.VOLUME, "v1")).contains(created);
            assertThat(store.resourceVersion()).isEqualTo(created.meta().resourceVersion());
        }
    }

    @Test
    void updatesAreOptimisticAndOnlySpecChangesBumpTheGeneration() throws Exception {
        try (Store store = Store.open(dir.resolve("db"), CLOCK)) {
            Volume v = store.create(Kind.VOLUME, volume("v1", 1 << 30));
            Volume statusOnly = store.update(
                    Kind.VOLUME, v.withStatus(v.status().with(Volume.State.DETACHED, Volume.Robustness.HEALTHY)));
            assertThat(statusOnly.meta().generation()).isEqualTo(1);
            assertThat(statusOnly.meta().resourceVersion())
                    .isGreaterThan(v.meta().resourceVersion());
            Volume grown = store.update(
                    Kind.VOLUME, statusOnly.withSpec(statusOnly.spec().withSize(2L << 30)));
            assertThat(grown.meta().generation()).isEqualTo(2);
            assertThat(grown.meta().uid()).isEqualTo(v.meta().uid());
            // a writer holding the first read loses, and nothing changes
            assertThatThrownBy(
                            () -> store.update(Kind.VOLUME, v.withSpec(v.spec().withSize(3L << 30))))
                    .isInstanceOf(StoreException.Conflict.class)
                    .hasMessageContaining("read it again");
            assertThat(store.get(Kind.VOLUME, "v1").orElseThrow().spec().size()).isEqualTo(2L << 30);
            assertThatThrownBy(() -> store.update(Kind.VOLUME, volume("nope", 1)))
                    .isInstanceOf(StoreException.NotFound.class);
        }
    }

    @Test
    void watchersSeeEveryChangeInOrderIncludingThoseBeforeTheyStarted() throws Exception {
        try (Store store = Store.open(dir.resolve("db"), CLOCK)) {
            long start = store.resourceVersion();
            store.create(Kind.VOLUME, volume("a", 1));
            store.create(Kind.SETTING, new Setting(Meta.named("auto-salvage"), "false"));
            List<Event> seen = new ArrayList<>();
            try (AutoCloseable w = store.watch(start, seen::add)) {
                Volume a = store.get(Kind.VOLUME, "a").orElseThrow();
                store.update(Kind.VOLUME, a.withSpec(a.spec().withSize(2)));
                store.delete(Kind.VOLUME, "a");
            }
            store.create(Kind.VOLUME, volume("after-close", 1));
            assertThat(seen)
                    .extracting(e -> e.type() + " " + e.kind() + " " + e.name())
                    .containsExactly(
                            "ADDED Volume a", "ADDED Setting auto-salvage", "MODIFIED Volume a", "DELETED Volume a");
            assertThat(seen).extracting(Event::resourceVersion).isSorted().doesNotHaveDuplicates();
        }
    }

    @Test
    void aWatchFromBeforeTheKeptHistoryIsRefused() throws Exception {
        try (Store store = Store.open(dir.resolve("db"), CLOCK)) {
            store.create(Kind.VOLUME, volume("a", 1));
        }
        try (Store store = Store.open(dir.resolve("db"), CLOCK)) {
            assertThatThrownBy(() -> store.watch(0, e -> {}))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("list again");
            store.watch(store.resourceVersion(), e -> {}).close();
        }
    }
}
