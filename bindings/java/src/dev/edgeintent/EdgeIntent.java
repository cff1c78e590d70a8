package dev.edgeintent;

import java.util.OptionalLong;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * The on-device intent runtime: push the app's events, poll the decisions
 * (refresh the homepage, show a slot's list, fetch a geofence card, ...).
 *
 * <p>{@link #push} may be called from many threads at once and never blocks;
 * every other call may come from any thread. {@link #close} frees the native
 * runtime once every call in progress has returned; later calls throw
 * {@link IllegalStateException}.
 *
 * <p>The native library is {@code libedgeintent} (built with the
 * {@code java} feature): {@code System.loadLibrary("edgeintent")}, or the
 * file named by the system property {@code edgeintent.library}.
 */
public final class EdgeIntent implements AutoCloseable {
    static {
        String path = System.getProperty("edgeintent.library");
        if (path != null) {
            System.load(path);
        } else {
            System.loadLibrary("edgeintent");
        }
    }

    /** The ABI this class was written against (EI_ABI_VERSION). */
    public static final int ABI_VERSION = 3;

    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private long handle;

    private EdgeIntent(long handle) {
        this.handle = handle;
    }

    /**
     * Creates a runtime from config JSON (the CLI's --config contents;
     * relative paths resolve against the process's working directory).
     *
     * @throws EdgeIntentException with code ARG when the config is invalid
     *     or a required model does not load
     */
    public static EdgeIntent create(String configJson) {
        return create(configJson, null);
    }

    /**
     * Creates a runtime for one user: the id picks the A/B bucket
     * (policy.buckets) and the arm of staged roll-outs; null for none.
     *
     * @throws EdgeIntentException with code ARG when the config is invalid
     *     or a required model does not load
     */
    public static EdgeIntent create(String configJson, String userId) {
        if (nativeAbiVersion() != ABI_VERSION) {
            throw new IllegalStateException("libedgeintent speaks ABI " + nativeAbiVersion()
                    + ", this class " + ABI_VERSION + ": use the jar built with the library");
        }
        return new EdgeIntent(nativeCreate(configJson, userId));
    }

    /** The library version, e.g. "0.1.0". */
    public static String version() {
        return nativeVersion();
    }

    /**
     * Pushes one event (a JSON object of the trace contract); an unknown
     * "type" is counted and skipped.
     *
     * @throws EdgeIntentException EVENT for an invalid event, FULL when the
     *     channel is full (the event is dropped; poll more often)
     */
    public void push(String eventJson) {
        lock.readLock().lock();
        try {
            nativePush(live(), eventJson);
        } finally {
            lock.readLock().unlock();
        }
    }

    /** Processes pushed events and returns the oldest decision not yet taken (one JSON line), or null. */
    public String poll() {
        lock.readLock().lock();
        try {
            return nativePoll(live());
        } finally {
            lock.readLock().unlock();
        }
    }

    /**
     * Moves time on to nowMs (the events' clock) after processing pushed
     * events, running the periodic decisions due; poll afterwards.
     *
     * @throws EdgeIntentException ARG for a time outside 0 .. year 2200
     */
    public void tick(long nowMs) {
        lock.readLock().lock();
        try {
            nativeTick(live(), nowMs);
        } finally {
            lock.readLock().unlock();
        }
    }

    /** When the runtime next wants {@link #tick} (ms), or empty when nothing is due. */
    public OptionalLong nextWakeupMs() {
        lock.readLock().lock();
        try {
            long t = nativeNextWakeup(live());
            return t == Long.MIN_VALUE ? OptionalLong.empty() : OptionalLong.of(t);
        } finally {
            lock.readLock().unlock();
        }
    }

    /**
     * Installs the coverage circle the server sent after a request_coverage
     * decision.
     *
     * @throws EdgeIntentException ARG for an invalid circle, STATE without a
     *     geofence config; the previous circle stays
     */
    public void setCoverage(double lat, double lon, double radiusM) {
        lock.readLock().lock();
        try {
            nativeSetCoverage(live(), lat, lon, radiusM);
        } finally {
            lock.readLock().unlock();
        }
    }

    /**
     * Applies a signed config update package from the server, between two
     * events (after the events already pushed).
     *
     * @return true when it is in force, false when this user's roll-out arm
     *     keeps the running version
     * @throws EdgeIntentException UPDATE when it is refused (the message says
     *     why; the running version stays), STATE without an updates section
     */
    public boolean updateConfig(byte[] pkg) {
        lock.readLock().lock();
        try {
            return nativeUpdate(live(), pkg, false) == 1;
        } finally {
            lock.readLock().unlock();
        }
    }

    /** Applies a signed model update package, as {@link #updateConfig} does a config. */
    public boolean updateModel(byte[] pkg) {
        lock.readLock().lock();
        try {
            return nativeUpdate(live(), pkg, true) == 1;
        } finally {
            lock.readLock().unlock();
        }
    }

    /** Saves the state atomically to path (after processing pushed events). */
    public void snapshotSave(String path) {
        lock.readLock().lock();
        try {
            nativeSnapshotSave(live(), path);
        } finally {
            lock.readLock().unlock();
        }
    }

    /**
     * Restores a snapshot.
     *
     * @throws EdgeIntentException SNAPSHOT when it is missing, corrupt or
     *     from another configuration; the state is unchanged
     */
    public void snapshotLoad(String path) {
        lock.readLock().lock();
        try {
            nativeSnapshotLoad(live(), path);
        } finally {
            lock.readLock().unlock();
        }
    }

    /** The counters as a JSON object (events, decisions by reason, model, latency). */
    public String stats() {
        lock.readLock().lock();
        try {
            return nativeStats(live());
        } finally {
            lock.readLock().unlock();
        }
    }

    /** Frees the native runtime; idempotent. */
    @Override
    public void close() {
        lock.writeLock().lock();
        try {
            if (handle != 0) {
                nativeFree(handle);
                handle = 0;
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    private long live() {
        if (handle == 0) {
            throw new IllegalStateException("EdgeIntent is closed");
        }
        return handle;
    }

    private static native long nativeCreate(String configJson, String userId);
    private static native int nativeUpdate(long handle, byte[] pkg, boolean model);
    private static native void nativePush(long handle, String eventJson);
    private static native String nativePoll(long handle);
    private static native void nativeTick(long handle, long nowMs);
    private static native long nativeNextWakeup(long handle);
    private static native void nativeSetCoverage(long handle, double lat, double lon, double radiusM);
    private static native void nativeSnapshotSave(long handle, String path);
    private static native void nativeSnapshotLoad(long handle, String path);
    private static native String nativeStats(long handle);
    private static native void nativeFree(long handle);
    private static native String nativeVersion();
    private static native int nativeAbiVersion();
}
