import dev.edgeintent.EdgeIntent;
import dev.edgeintent.EdgeIntentException;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The Java binding's test (issue 20), run by tests/it/java.rs:
 *
 *   java -Xcheck:jni -Dedgeintent.library=LIB -cp OUT Check replay CONFIG TRACE
 *     prints every decision, exactly as `edgeintent replay` does;
 *   java ... Check updates CONFIG TRACE PACKAGE
 *     applies a signed config update, and refuses it tampered and replayed;
 *   java ... Check threads CONFIG TRACE
 *     pushes from 8 threads while another polls, checks the accounting and
 *     the typed errors, prints one summary line.
 */
public final class Check {
    public static void main(String[] args) throws Exception {
        String config = Files.readString(Path.of(args[1]), StandardCharsets.UTF_8);
        List<String> lines = Files.readAllLines(Path.of(args[2]), StandardCharsets.UTF_8);
        switch (args[0]) {
            case "replay" -> replay(config, lines);
            case "threads" -> threads(config, lines);
            case "updates" -> updates(config, lines, Path.of(args[3]));
            default -> throw new IllegalArgumentException("mode: replay, threads or updates");
        }
    }

    static void replay(String config, List<String> lines) {
        StringBuilder out = new StringBuilder();
        try (EdgeIntent ei = EdgeIntent.create(config)) {
            for (String line : lines) {
                if (line.isBlank()) continue;
                ei.push(line);
                for (String d; (d = ei.poll()) != null; ) out.append(d).append('\n');
            }
            for (String d; (d = ei.poll()) != null; ) out.append(d).append('\n');
        }
        System.out.print(out);
    }

    static void expect(int code, Runnable call, String what) {
        try {
            call.run();
        } catch (EdgeIntentException e) {
            if (e.code() != code) throw new AssertionError(what + ": code " + e.code() + ": " + e.getMessage());
            if (e.getMessage().isEmpty()) throw new AssertionError(what + ": no message");
            return;
        }
        throw new AssertionError(what + ": no exception");
    }

    static void threads(String config, List<String> lines) throws Exception {
        expect(EdgeIntentException.ARG, () -> EdgeIntent.create("{not json"), "a bad config");
        expect(EdgeIntentException.NULL, () -> EdgeIntent.create(null), "a null config");
        final int threads = 8, rounds = 5;
        AtomicLong ok = new AtomicLong(), full = new AtomicLong(), polled = new AtomicLong();
        Path snap = Files.createTempFile("edgeintent", ".snap");
        EdgeIntent ei = EdgeIntent.create(config);
        expect(EdgeIntentException.EVENT, () -> ei.push("{\"ts_ms\":1,\"type\":\"location\",\"lat\":91,\"lon\":0,\"accuracy_m\":1}"), "an invalid event");
        expect(EdgeIntentException.NULL, () -> ei.push(null), "a null event");
        expect(EdgeIntentException.ARG, () -> ei.tick(-1), "a negative time");
        expect(EdgeIntentException.STATE, () -> ei.setCoverage(0, 0, 1000), "coverage without a geofence");
        expect(EdgeIntentException.SNAPSHOT, () -> ei.snapshotLoad("/nonexistent/x.snap"), "a missing snapshot");
        AtomicBoolean done = new AtomicBoolean();
        Thread poller = new Thread(() -> {
            while (!done.get()) {
                if (ei.poll() != null) polled.incrementAndGet();
            }
        });
        poller.start();
        Thread[] producers = new Thread[threads];
        for (int t = 0; t < threads; t++) {
            producers[t] = new Thread(() -> {
                for (int r = 0; r < rounds; r++) {
                    for (String line : lines) {
                        try {
                            ei.push(line);
                            ok.incrementAndGet();
                        } catch (EdgeIntentException e) {
                            if (e.code() != EdgeIntentException.FULL) throw e;
                            full.incrementAndGet();
                        }
                    }
                }
            });
            producers[t].start();
        }
        for (Thread p : producers) p.join();
        done.set(true);
        poller.join();
        for (String d; (d = ei.poll()) != null; ) polled.incrementAndGet();
        ei.snapshotSave(snap.toString());
        ei.snapshotLoad(snap.toString());
        ei.tick(ei.nextWakeupMs().orElse(0));
        String stats = ei.stats();
        ei.close();
        ei.close();
        try {
            ei.poll();
            throw new AssertionError("poll after close");
        } catch (IllegalStateException expected) {
            // closed
        }
        long pushed = field(stats, "events_pushed"), processed = field(stats, "events_processed");
        long rejected = field(stats, "events_rejected"), dropped = field(stats, "events_dropped_full");
        long held = field(stats, "events_held");
        long total = (long) threads * rounds * lines.size();
        if (ok.get() + full.get() != total) throw new AssertionError("lost pushes");
        if (pushed != ok.get() || dropped != full.get()) throw new AssertionError("stats disagree: " + stats);
        if (processed + rejected + held != pushed) {
            throw new AssertionError("processed + rejected + held != pushed: " + stats);
        }
        Files.deleteIfExists(snap);
        System.out.println("java: " + threads + " threads pushed " + total + " events: " + ok.get()
                + " accepted, " + full.get() + " dropped full, " + processed + " processed, "
                + rejected + " rejected, " + polled.get() + " decisions polled; version "
                + EdgeIntent.version());
    }

    /** A signed config update: refused when tampered or replayed, in force otherwise. */
    static void updates(String config, List<String> lines, Path pkgPath) throws Exception {
        byte[] pkg = Files.readAllBytes(pkgPath);
        byte[] bad = pkg.clone();
        bad[bad.length - 3] ^= 1;
        try (EdgeIntent ei = EdgeIntent.create(config, "user-7")) {
            ei.push(lines.get(0));
            while (ei.poll() != null) { }
            expect(EdgeIntentException.UPDATE, () -> ei.updateConfig(bad), "a tampered package");
            expect(EdgeIntentException.NULL, () -> ei.updateConfig(null), "a null package");
            if (!ei.updateConfig(pkg)) throw new AssertionError("not in force");
            expect(EdgeIntentException.UPDATE, () -> ei.updateConfig(pkg), "a replayed package");
            ei.push("{\"ts_ms\":1767600200000,\"type\":\"pull_to_refresh\",\"page\":\"home\"}");
            String d = ei.poll();
            if (d == null || !d.contains("\"config\":\"policy-b\"")) throw new AssertionError("decision: " + d);
            if (!ei.stats().contains("\"refused\":2")) throw new AssertionError("stats: " + ei.stats());
            System.out.println("java updates: " + d);
        }
    }

    static long field(String json, String key) {
        int at = json.indexOf("\"" + key + "\":");
        if (at < 0) throw new AssertionError("no " + key + " in " + json);
        int from = at + key.length() + 3, to = from;
        while (to < json.length() && Character.isDigit(json.charAt(to))) to++;
        return Long.parseLong(json.substring(from, to));
    }
}
