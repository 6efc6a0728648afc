/*
 * livegen._jackmidi: one JACK client holding livegen's MIDI input and output ports.
 *
 * Why this exists (docs/benchmark.md, issue "Instant, tight, and in time with the DAW"):
 * python-rtmidi opens one JACK client per port, and every JACK client wakes once per
 * period (750 times a second at 64 frames, 48 kHz); measured here, each costs about
 * 0.5 % of a core even when no MIDI flows. One client for both ports halves that.
 * JACK-Client (the Python binding) would also give one client, but its process
 * callback is Python: it must take the GIL on JACK's real-time thread, and while
 * another thread holds the GIL, whole cycles pass and their MIDI input is lost.
 * Here the process callback is C and never waits: input goes into a lock-free
 * ring buffer (jack_ringbuffer, single reader, single writer) that a Python thread
 * drains after a semaphore post; output comes from another ring buffer, each message
 * placed at its frame: sent at time t, it plays at t plus one period. Time-stamped
 * output (write_at, issue 14) waits in slots until the cycle whose span holds its
 * deadline, and goes at the deadline's frame: no Python runs at the deadline.
 *
 * The Python side (livegen/ports/jack.py) allows one reader thread and serialises writers.
 *
 * libjack locks the server's shared graph segment in every client (mlock); that is the
 * server's memory and it stays locked here, so the process callback never page-faults.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <jack/jack.h>
#include <jack/midiport.h>
#include <jack/ringbuffer.h>
#include <jack/thread.h>

#define RING_BYTES (1 << 17)   /* 128 KiB each way: thousands of 3-byte messages */
#define MAX_EVENT_BYTES 256    /* longer events (sysex) are not passed on */
/* The server stalls remembered. The clock judges a jump against the stalls within its 48-tick
 * window (1-3 s); a starved server stalls 10-20 times a second, which 16 slots forgot before
 * the jump was judged (a lost tick counted as none). 1024 hold a 3 s window at 340 a second. */
#define STALL_SLOTS 1024
#define TIMED_SLOTS 256        /* time-stamped messages held at once (write_at) */
#define TIMED_BYTES 16         /* a time-stamped message is a short one (channel messages) */
/* After the server reports an xrun, the note_offs placed this long before the report are
 * placed again (see "Note_offs across xruns" below). It covers the cycle lost and the
 * report's own delay: the report travels to this client's notification thread, which a
 * loaded non-real-time machine may wake tens of milliseconds late. */
#define XRUN_REPAIR_S 0.25
/* Each report is acted on this many times, this far apart: the cycles right after an xrun may
 * be lost too (tests/livegen/ports/test_jack_xrun.py: after an overrun of 20 ms, a note_off placed
 * again in the next cycle only went unheard in 1 of about 70 rounds). */
#define XRUN_REPAIR_PASSES 3
#define XRUN_REPAIR_GAP_S 0.02
#define FLUSH_XRUN_WAIT_S 0.05 /* flush() waits this long after the last note_off for an xrun report */

/* A time-stamped output slot. `tag` is (id << 2) | state, one atomic word, so a slot
 * freed and reused under the process thread's feet cannot pass for the message it
 * looked at (no ABA): the process thread takes a message with one compare-and-swap
 * QUEUED -> DONE on the tag it read, cancel() drops it with QUEUED -> FREE, and exactly
 * one of the two wins. Python writes id, size, due_s, data while the slot is FREE, then
 * publishes the tag (release); the process thread writes played_s and order only. */
enum { SLOT_FREE = 0, SLOT_QUEUED = 1, SLOT_DONE = 2 };
#define SLOT_STATE(tag) ((tag) & 3u)
#define SLOT_ID(tag) ((tag) >> 2)
typedef struct {
    atomic_uint_fast64_t tag;
    uint32_t size;
    double due_s;     /* CLOCK_MONOTONIC seconds: where it is placed */
    double played_s;  /* the time its frame stands for, same clock (process thread) */
    uint64_t order;   /* 1, 2, 3... in the order the process thread played them */
    unsigned char data[TIMED_BYTES];
} timed_slot;

typedef struct {
    uint32_t size;
    double time_s; /* CLOCK_MONOTONIC seconds, the clock of Python's time.monotonic() */
} in_header;

typedef struct {
    uint32_t size;
    double sent_s; /* CLOCK_MONOTONIC seconds when write() queued it */
} out_header;

typedef struct {
    PyObject_HEAD
    jack_client_t *client;
    _Atomic(jack_port_t *) in_port;
    _Atomic(jack_port_t *) out_port;
    jack_ringbuffer_t *in_ring;
    jack_ringbuffer_t *out_ring;
    sem_t in_sem;
    int sem_ok;
    atomic_uint_fast64_t cycles;   /* process cycles run */
    atomic_uint_fast64_t dropped;  /* input events not passed on: ring full or too long */
    atomic_int shutdown;           /* the server went away */
    int active;
    double last_cycle_s;           /* when the previous cycle ran (the process thread's own) */
    jack_nframes_t last_frame;     /* jack_last_frame_time() then */
    /* Server stalls: more than two periods between cycles, though the frame count moved
     * on by one period (no cycle ran without this client). Written by the process
     * thread only: slot, then count. */
    double stall_start_s[STALL_SLOTS];
    double stall_end_s[STALL_SLOTS];
    atomic_uint_fast64_t stalls;
    atomic_uint_fast64_t missed;   /* cycles the server ran without this client */
    atomic_uint_fast64_t out_connects; /* connections made to the output port (on_connect) */
    /* Time-stamped output (write_at / collect / cancel). */
    timed_slot timed[TIMED_SLOTS];
    atomic_int timed_queued;       /* slots QUEUED, or about to be: 0 lets a cycle skip the scan */
    uint64_t timed_next_id;        /* Python side only (the GIL serialises it) */
    unsigned timed_hint;           /* Python side: where the search for a free slot starts */
    uint64_t timed_order;          /* process thread only */
    atomic_uint delay_us;          /* test hook: the next cycle sleeps this long (delay_next_cycle) */
    atomic_uint_fast64_t placed;   /* output events written into JACK's buffers, each once */
    atomic_uint_fast64_t timed_lost; /* taken but refused by jack_midi_event_reserve: 0 expected */
    atomic_long process_tid;       /* the OS thread id of JACK's process thread (0: no cycle yet) */
    /* Note_offs across xruns. When a client misses a cycle (this one, or the synth reading
     * it), JACK2 may drop the MIDI of that cycle between them (tests/livegen/ports: an overrun
     * cycle's messages never reach the reader) or hand the reader a stale buffer again (a
     * note_on twice: docs/benchmark.md): a lost note_off, or a voice struck twice and ended
     * once, leaves a note sounding. The server reports every xrun to every client. After a
     * report, for each key whose last message was placed within XRUN_REPAIR_S before it:
     *  - a note_off (the key is silent) is placed again, at the first frame of the next cycle
     *    (and of XRUN_REPAIR_PASSES - 1 later ones, XRUN_REPAIR_GAP_S apart, if still silent);
     *  - a note_on (the key sounds) is ended twice: its next note_off is placed two times.
     * A note_off for a silent key changes nothing on a synth. Written by the process thread,
     * but xrun_ns and xruns (the notification thread). */
    atomic_uint_fast64_t xrun_ns;  /* CLOCK_MONOTONIC ns of the latest xrun report, 0: none */
    atomic_uint_fast64_t xruns;    /* xrun reports */
    atomic_uint_fast64_t resent;   /* note_offs placed again (or twice) after xrun reports */
    atomic_uint_fast64_t repaired_ns; /* the xrun report last acted on (written by the process thread) */
    double repair_since_s;         /* the window of that report starts here */
    double next_pass_s;            /* its next pass is due then... */
    atomic_int passes_left;        /* ...if any is left */
    double off_s[16][128];         /* when the key's last message, a note_off, was placed; 0: not */
    double on_s[16][128];          /* when the key's last message, a note_on, was placed; 0: not */
    unsigned char end_twice[16][128]; /* the key's next note_off is placed two times */
    _Atomic double last_off_s;     /* when the last note_off was placed (flush() waits after it) */
} Client;

static double mono_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Write a note_off for (channel, pitch) at frame; 0 if the buffer had no room. */
static int place_note_off(void *buf, jack_nframes_t frame, unsigned channel, unsigned pitch) {
    jack_midi_data_t *dst = jack_midi_event_reserve(buf, frame, 3);
    if (dst == NULL)
        return 0;
    dst[0] = (jack_midi_data_t)(0x80 | channel);
    dst[1] = (jack_midi_data_t)pitch;
    dst[2] = 0;
    return 1;
}

/* Note what an output message placed at `frame`, at now_s, does to its key (the xrun repair's
 * table); a note_off of a key to end twice is placed once more, right after it. */
static void track_placed(Client *self, void *buf, jack_nframes_t frame, const unsigned char *data,
                         uint32_t size, double now_s) {
    if (size != 3 || data[1] > 127)
        return;
    unsigned kind = data[0] & 0xF0u, channel = data[0] & 0x0Fu, pitch = data[1];
    if (kind == 0x90 && data[2] > 0) {
        self->off_s[channel][pitch] = 0.0;
        self->on_s[channel][pitch] = now_s;
    } else if (kind == 0x80 || kind == 0x90) {
        self->off_s[channel][pitch] = now_s;
        self->on_s[channel][pitch] = 0.0;
        atomic_store_explicit(&self->last_off_s, now_s, memory_order_relaxed);
        if (self->end_twice[channel][pitch] && place_note_off(buf, frame, channel, pitch))
            atomic_fetch_add(&self->resent, 1);
        self->end_twice[channel][pitch] = 0;
    }
}

/* At the start of a cycle's output, after a new xrun report (and for its later passes): place
 * again (at frame 0) the note_offs of keys still silent that were placed since XRUN_REPAIR_S
 * before the report, and mark to end twice the keys struck since then. */
static void repair_xruns(Client *self, void *buf, double now_s) {
    uint_fast64_t xrun_ns = atomic_load(&self->xrun_ns);
    if (xrun_ns != atomic_load_explicit(&self->repaired_ns, memory_order_relaxed)) {
        self->repair_since_s = (double)xrun_ns * 1e-9 - XRUN_REPAIR_S;
        self->next_pass_s = now_s;
        atomic_store(&self->passes_left, XRUN_REPAIR_PASSES);
        atomic_store(&self->repaired_ns, xrun_ns);
    }
    if (atomic_load_explicit(&self->passes_left, memory_order_relaxed) <= 0 || now_s < self->next_pass_s)
        return;
    atomic_fetch_sub(&self->passes_left, 1);
    self->next_pass_s = now_s + XRUN_REPAIR_GAP_S;
    double since_s = self->repair_since_s;
    for (unsigned c = 0; c < 16; c++)
        for (unsigned p = 0; p < 128; p++) {
            double off = self->off_s[c][p];
            if (off > 0.0 && off >= since_s && off <= now_s && place_note_off(buf, 0, c, p))
                atomic_fetch_add(&self->resent, 1);
            if (self->on_s[c][p] >= since_s && self->on_s[c][p] > 0.0)
                self->end_twice[c][p] = 1;
        }
}

/* Place every time-stamped message due before now_s (the end of this cycle's span) at its
 * frame: a deadline in [start_s, now_s) at the frame it falls on, an earlier one (late) at
 * the first free frame; in (due, id) order, frames never going backwards. A later one stays
 * queued. Only messages the buffer has room for are taken, so a taken one always plays.
 * Returns the last frame used. */
static jack_nframes_t place_timed(Client *self, void *buf, double start_s, double now_s,
                                  double frame_s, jack_nframes_t nframes, jack_nframes_t last) {
    if (atomic_load(&self->timed_queued) <= 0)
        return last;
    int due[TIMED_SLOTS];
    uint_fast64_t tags[TIMED_SLOTS];
    double when[TIMED_SLOTS];
    int n = 0;
    for (int i = 0; i < TIMED_SLOTS; i++) {
        uint_fast64_t tag = atomic_load_explicit(&self->timed[i].tag, memory_order_acquire);
        if (SLOT_STATE(tag) != SLOT_QUEUED)
            continue;
        double t = self->timed[i].due_s;
        if (!(t < now_s))
            continue;
        /* insertion sort by (due, id): a handful of messages per cycle */
        int k = n++;
        while (k > 0 && (when[k - 1] > t || (when[k - 1] == t && SLOT_ID(tags[k - 1]) > SLOT_ID(tag)))) {
            due[k] = due[k - 1];
            tags[k] = tags[k - 1];
            when[k] = when[k - 1];
            k--;
        }
        due[k] = i;
        tags[k] = tag;
        when[k] = t;
    }
    for (int j = 0; j < n; j++) {
        timed_slot *slot = &self->timed[due[j]];
        uint32_t size = slot->size;
        if (size == 0 || size > TIMED_BYTES)
            continue; /* torn read of a slot being reused: its tag has changed, the CAS fails */
        unsigned char data[TIMED_BYTES];
        memcpy(data, slot->data, size); /* copied before the CAS: the slot may be reused after */
        double at = (when[j] - start_s) / frame_s;
        jack_nframes_t frame = at <= (double)last ? last
                               : at >= (double)(nframes - 1) ? nframes - 1
                               : (jack_nframes_t)at;
        if (jack_midi_max_event_size(buf) < size)
            break; /* this cycle's buffer is full: the rest stay queued for the next */
        slot->played_s = start_s + (double)frame * frame_s;
        slot->order = self->timed_order + 1;
        uint_fast64_t expected = tags[j];
        uint_fast64_t taken = (SLOT_ID(expected) << 2) | SLOT_DONE;
        if (!atomic_compare_exchange_strong_explicit(&slot->tag, &expected, taken, memory_order_acq_rel,
                                                     memory_order_acquire))
            continue; /* cancelled (or cancelled and reused) meanwhile: not ours to play */
        self->timed_order++;
        atomic_fetch_sub(&self->timed_queued, 1);
        jack_midi_data_t *dst = jack_midi_event_reserve(buf, frame, size);
        if (dst != NULL) {
            memcpy(dst, data, size);
            atomic_fetch_add(&self->placed, 1);
            track_placed(self, buf, frame, data, size, now_s);
        } else {
            atomic_fetch_add(&self->timed_lost, 1); /* never expected: room was checked */
        }
        last = frame;
    }
    return last;
}

/* JACK's real-time callback: no locks, no allocation, no Python. */
static int process(jack_nframes_t nframes, void *arg) {
    Client *self = (Client *)arg;
    jack_port_t *in = atomic_load(&self->in_port);
    jack_port_t *out = atomic_load(&self->out_port);
    /* This cycle stands for the time since the previous one ran: its nframes frames are
     * spread over that span, so consecutive cycles tile the clock with no gap or overlap
     * even when the process thread wakes late or early. After a stall (or at the first
     * cycle) the span is capped at two periods. */
    double now_s = mono_now_s();
    if (atomic_load_explicit(&self->process_tid, memory_order_relaxed) == 0) /* once */
        atomic_store(&self->process_tid, (long)syscall(SYS_gettid));
    double rate_hz = (double)jack_get_sample_rate(self->client);
    double period_s = (double)nframes / rate_hz;
    jack_nframes_t frame_now = jack_last_frame_time(self->client);
    if (self->last_cycle_s > 0.0) {
        jack_nframes_t moved = frame_now - self->last_frame;
        if (moved > nframes)
            atomic_fetch_add(&self->missed, (moved - nframes) / nframes);
        /* A stall: the clock ran on by over a period more than the frames moved (two
         * periods between cycles one period apart). Cycles this client missed on top of
         * it (a busy machine) do not hide it. */
        if (now_s - self->last_cycle_s > (double)moved / rate_hz + period_s) {
            uint_fast64_t n = atomic_load(&self->stalls);
            self->stall_start_s[n % STALL_SLOTS] = self->last_cycle_s;
            self->stall_end_s[n % STALL_SLOTS] = now_s;
            atomic_store(&self->stalls, n + 1);
        }
    }
    self->last_frame = frame_now;
    double start_s = self->last_cycle_s;
    if (start_s <= 0.0 || start_s < now_s - 2.0 * period_s || start_s >= now_s)
        start_s = now_s - period_s;
    double frame_s = (now_s - start_s) / (double)nframes;
    self->last_cycle_s = now_s;

    if (in != NULL) {
        void *buf = jack_port_get_buffer(in, nframes);
        uint32_t count = jack_midi_get_event_count(buf);
        if (count > 0) {
            /* An event at frame offset k came during the span that ended as this cycle
             * began: it is stamped k frames into it, on CLOCK_MONOTONIC. Events keep their
             * frame-accurate spacing; stamps never go backwards and are never later than
             * the moment the event could first be read. */
            int posted = 0;
            for (uint32_t i = 0; i < count; i++) {
                jack_midi_event_t ev;
                if (jack_midi_event_get(&ev, buf, i) != 0 || ev.size == 0)
                    continue;
                unsigned char status = ev.buffer[0];
                if (status == 0xF0 || status == 0xFE) /* sysex, active sensing: ignored */
                    continue;
                in_header h;
                h.size = (uint32_t)ev.size;
                h.time_s = start_s + (double)ev.time * frame_s;
                if (ev.size > MAX_EVENT_BYTES ||
                    jack_ringbuffer_write_space(self->in_ring) < sizeof h + ev.size) {
                    atomic_fetch_add(&self->dropped, 1);
                    continue;
                }
                jack_ringbuffer_write(self->in_ring, (const char *)&h, sizeof h);
                jack_ringbuffer_write(self->in_ring, (const char *)ev.buffer, ev.size);
                posted = 1;
            }
            if (posted && self->sem_ok)
                sem_post(&self->in_sem);
        }
    }

    if (out != NULL) {
        /* A message queued at time t goes out at the frame where t falls in the span
         * that just ended: about one period late, always, instead of 0 to 1 period late
         * (rtmidi writes every message at frame 0), so the spacing of the sends
         * survives to the synth. Frames never go backwards (JACK requires it). */
        void *buf = jack_port_get_buffer(out, nframes);
        jack_midi_clear_buffer(buf);
        repair_xruns(self, buf, now_s);
        jack_nframes_t last = place_timed(self, buf, start_s, now_s, frame_s, nframes, 0);
        for (;;) {
            out_header h;
            size_t avail = jack_ringbuffer_read_space(self->out_ring);
            if (avail < sizeof h)
                break;
            jack_ringbuffer_peek(self->out_ring, (char *)&h, sizeof h);
            if (avail < sizeof h + h.size)
                break; /* the writer is half-way: next cycle */
            double at = (h.sent_s - start_s) / frame_s;
            jack_nframes_t frame = at <= (double)last ? last
                                   : at >= (double)(nframes - 1) ? nframes - 1
                                   : (jack_nframes_t)at;
            jack_midi_data_t *dst = jack_midi_event_reserve(buf, frame, h.size);
            if (dst == NULL)
                break; /* this cycle's buffer is full: the rest goes next cycle */
            last = frame;
            jack_ringbuffer_read_advance(self->out_ring, sizeof h);
            jack_ringbuffer_read(self->out_ring, (char *)dst, h.size);
            atomic_fetch_add(&self->placed, 1);
            track_placed(self, buf, frame, dst, h.size, now_s);
        }
    }
    atomic_fetch_add(&self->cycles, 1);
    unsigned delay_us = atomic_exchange(&self->delay_us, 0);
    if (delay_us > 0) { /* test hook only: make the server run cycles without this client */
        struct timespec nap = {(time_t)(delay_us / 1000000u), (long)(delay_us % 1000000u) * 1000L};
        nanosleep(&nap, NULL);
    }
    return 0;
}

/* Append a new reference to list and drop it; -1 with the error set if either failed. */
static int append_new(PyObject *list, PyObject *item) {
    int result = item == NULL ? -1 : PyList_Append(list, item);
    Py_XDECREF(item);
    return result;
}

/* JACK's notification thread: the server saw a client (any) not finish a cycle in time. */
static int on_xrun(void *arg) {
    Client *self = (Client *)arg;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    atomic_store(&self->xrun_ns, (uint_fast64_t)ts.tv_sec * 1000000000u + (uint_fast64_t)ts.tv_nsec);
    atomic_fetch_add(&self->xruns, 1);
    return 0;
}

static void on_shutdown(void *arg) {
    Client *self = (Client *)arg;
    atomic_store(&self->shutdown, 1);
    if (self->sem_ok)
        sem_post(&self->in_sem);
}

/* JACK's notification thread (not the real-time one): count the connections made to the
 * output port, so the Python side can end, at the receiver, the notes it may still hold
 * from before a disconnection (livegen/serve.py). */
static void on_connect(jack_port_id_t a, jack_port_id_t b, int connect, void *arg) {
    Client *self = (Client *)arg;
    jack_port_t *out = atomic_load(&self->out_port);
    jack_client_t *client = self->client;
    if (!connect || out == NULL || client == NULL)
        return;
    if (jack_port_by_id(client, a) == out || jack_port_by_id(client, b) == out)
        atomic_fetch_add(&self->out_connects, 1);
}

static void close_client(Client *self) {
    if (self->client != NULL) {
        jack_client_t *client = self->client;
        Py_BEGIN_ALLOW_THREADS
        if (self->active && !atomic_load(&self->shutdown))
            jack_deactivate(client);
        jack_client_close(client);
        Py_END_ALLOW_THREADS
        self->client = NULL;
        self->active = 0;
        atomic_store(&self->in_port, NULL);
        atomic_store(&self->out_port, NULL);
    }
}

static void Client_dealloc(Client *self) {
    close_client(self);
    if (self->in_ring != NULL)
        jack_ringbuffer_free(self->in_ring);
    if (self->out_ring != NULL)
        jack_ringbuffer_free(self->out_ring);
    if (self->sem_ok)
        sem_destroy(&self->in_sem);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Client_init(Client *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"name", NULL};
    const char *name;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "s", kwlist, &name))
        return -1;
    if (self->client != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "client already open");
        return -1;
    }
    if (!self->sem_ok) {
        if (sem_init(&self->in_sem, 0, 0) != 0) {
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
        self->sem_ok = 1;
    }
    if (self->in_ring == NULL)
        self->in_ring = jack_ringbuffer_create(RING_BYTES);
    if (self->out_ring == NULL)
        self->out_ring = jack_ringbuffer_create(RING_BYTES);
    if (self->in_ring == NULL || self->out_ring == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    jack_status_t status = 0;
    jack_client_t *client;
    Py_BEGIN_ALLOW_THREADS
    client = jack_client_open(name, JackNoStartServer, &status);
    Py_END_ALLOW_THREADS
    if (client == NULL) {
        PyErr_Format(PyExc_OSError, "cannot open a JACK client (status 0x%x%s)", (unsigned)status,
                     (status & JackServerFailed) ? ": no JACK server running" : "");
        return -1;
    }
    self->client = client;
    if (jack_set_process_callback(client, process, self) != 0) {
        close_client(self);
        PyErr_SetString(PyExc_OSError, "cannot set the JACK process callback");
        return -1;
    }
    jack_on_shutdown(client, on_shutdown, self);
    jack_set_xrun_callback(client, on_xrun, self);
    jack_set_port_connect_callback(client, on_connect, self);
    return 0;
}

static int check_open(Client *self) {
    if (self->client == NULL) {
        PyErr_SetString(PyExc_ValueError, "JACK client is closed");
        return -1;
    }
    return 0;
}

static PyObject *register_port(Client *self, PyObject *args, int input) {
    const char *name;
    if (!PyArg_ParseTuple(args, "s", &name) || check_open(self) < 0)
        return NULL;
    _Atomic(jack_port_t *) *slot = input ? &self->in_port : &self->out_port;
    if (atomic_load(slot) != NULL) {
        PyErr_Format(PyExc_ValueError, "this client already has an %s port", input ? "input" : "output");
        return NULL;
    }
    jack_port_t *port;
    jack_client_t *client = self->client;
    Py_BEGIN_ALLOW_THREADS /* a request to the server, as in remove_port */
    port = jack_port_register(client, name, JACK_DEFAULT_MIDI_TYPE,
                              input ? JackPortIsInput : JackPortIsOutput, 0);
    Py_END_ALLOW_THREADS
    if (port == NULL) {
        PyErr_Format(PyExc_OSError, "cannot register the JACK MIDI port %R", PyTuple_GET_ITEM(args, 0));
        return NULL;
    }
    if (input) {
        /* nothing from before the port existed */
        jack_ringbuffer_reset(self->in_ring);
    }
    atomic_store(slot, port);
    return PyUnicode_FromString(jack_port_name(port));
}

static PyObject *Client_add_input(Client *self, PyObject *args) { return register_port(self, args, 1); }
static PyObject *Client_add_output(Client *self, PyObject *args) { return register_port(self, args, 0); }

/* Wait (GIL released) until `n` more process cycles have run, or `timeout_s`; True if they ran. */
static int wait_cycles(Client *self, unsigned n, double timeout_s) {
    uint_fast64_t start = atomic_load(&self->cycles);
    double until = mono_now_s() + timeout_s;
    int ran = 0;
    Py_BEGIN_ALLOW_THREADS
    while (mono_now_s() < until && !atomic_load(&self->shutdown)) {
        if (atomic_load(&self->cycles) - start >= n) {
            ran = 1;
            break;
        }
        struct timespec nap = {0, 200000}; /* 0.2 ms */
        nanosleep(&nap, NULL);
    }
    Py_END_ALLOW_THREADS
    return ran;
}

static PyObject *remove_port(Client *self, int input) {
    if (check_open(self) < 0)
        return NULL;
    _Atomic(jack_port_t *) *slot = input ? &self->in_port : &self->out_port;
    jack_port_t *port = atomic_exchange(slot, NULL);
    if (port != NULL) {
        /* a cycle that loaded the pointer before the exchange may still use the port */
        if (self->active)
            wait_cycles(self, 2, 0.1);
        jack_client_t *client = self->client;
        /* a server that stopped answering (SIGSTOP, a wedged driver) blocks this for good:
         * the GIL is released so that the caller's other threads run on (jack_clients.py) */
        Py_BEGIN_ALLOW_THREADS
        jack_port_unregister(client, port);
        Py_END_ALLOW_THREADS
    }
    Py_RETURN_NONE;
}

static PyObject *Client_remove_input(Client *self, PyObject *Py_UNUSED(a)) { return remove_port(self, 1); }
static PyObject *Client_remove_output(Client *self, PyObject *Py_UNUSED(a)) { return remove_port(self, 0); }

static PyObject *Client_activate(Client *self, PyObject *Py_UNUSED(a)) {
    if (check_open(self) < 0)
        return NULL;
    if (!self->active) {
        int err;
        Py_BEGIN_ALLOW_THREADS
        err = jack_activate(self->client);
        Py_END_ALLOW_THREADS
        if (err != 0) {
            PyErr_SetString(PyExc_OSError, "cannot activate the JACK client");
            return NULL;
        }
        self->active = 1;
    }
    Py_RETURN_NONE;
}

static PyObject *Client_connect(Client *self, PyObject *args) {
    const char *source, *destination;
    if (!PyArg_ParseTuple(args, "ss", &source, &destination) || check_open(self) < 0)
        return NULL;
    int err;
    Py_BEGIN_ALLOW_THREADS
    err = jack_connect(self->client, source, destination);
    Py_END_ALLOW_THREADS
    if (err != 0 && err != EEXIST) {
        PyErr_Format(PyExc_OSError, "cannot connect JACK port %s to %s", source, destination);
        return NULL;
    }
    Py_RETURN_NONE;
}

/* read(timeout_s) -> list of (bytes, time_s): waits up to timeout_s for input (GIL released). */
static PyObject *Client_read(Client *self, PyObject *args) {
    double timeout_s;
    if (!PyArg_ParseTuple(args, "d", &timeout_s))
        return NULL;
    if (self->in_ring == NULL)
        return PyList_New(0);
    if (jack_ringbuffer_read_space(self->in_ring) == 0 && timeout_s > 0 && self->sem_ok) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        double whole = (double)until.tv_sec + until.tv_nsec * 1e-9 + timeout_s;
        until.tv_sec = (time_t)whole;
        until.tv_nsec = (long)((whole - (double)until.tv_sec) * 1e9);
        Py_BEGIN_ALLOW_THREADS
        while (sem_timedwait(&self->in_sem, &until) != 0 && errno == EINTR) {
        }
        Py_END_ALLOW_THREADS
    }
    while (self->sem_ok && sem_trywait(&self->in_sem) == 0) {
        /* one wake-up serves every post so far: the drain below takes all */
    }
    PyObject *events = PyList_New(0);
    if (events == NULL)
        return NULL;
    in_header h;
    unsigned char data[MAX_EVENT_BYTES];
    while (jack_ringbuffer_read_space(self->in_ring) >= sizeof h) {
        jack_ringbuffer_read(self->in_ring, (char *)&h, sizeof h);
        jack_ringbuffer_read(self->in_ring, (char *)data, h.size); /* written whole by process() */
        if (append_new(events, Py_BuildValue("(y#d)", (const char *)data, (Py_ssize_t)h.size,
                                             h.time_s)) < 0) {
            Py_DECREF(events);
            return NULL;
        }
    }
    return events;
}

/* write(data) -> bool: queue one MIDI message for the next cycle; False if the ring is full. */
static PyObject *Client_write(Client *self, PyObject *args) {
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "y*", &data))
        return NULL;
    if (data.len == 0 || data.len > MAX_EVENT_BYTES) {
        PyErr_Format(PyExc_ValueError, "a MIDI message of %zd bytes (1-%d)", data.len,
                     MAX_EVENT_BYTES);
        PyBuffer_Release(&data);
        return NULL;
    }
    if (check_open(self) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    out_header h;
    h.size = (uint32_t)data.len;
    h.sent_s = mono_now_s();
    int ok = jack_ringbuffer_write_space(self->out_ring) >= sizeof h + h.size;
    if (ok) {
        /* process() takes a record only once the read space holds all of it, so
         * header-then-payload is safe */
        jack_ringbuffer_write(self->out_ring, (const char *)&h, sizeof h);
        jack_ringbuffer_write(self->out_ring, (const char *)data.buf, h.size);
    }
    PyBuffer_Release(&data);
    return PyBool_FromLong(ok);
}

/* write_at(data, due_s) -> id or None: hold one short message until its deadline. */
static PyObject *Client_write_at(Client *self, PyObject *args) {
    Py_buffer data;
    double due_s;
    if (!PyArg_ParseTuple(args, "y*d", &data, &due_s))
        return NULL;
    if (data.len == 0 || data.len > TIMED_BYTES) {
        PyErr_Format(PyExc_ValueError, "a time-stamped MIDI message of %zd bytes (1-%d)", data.len,
                     TIMED_BYTES);
        PyBuffer_Release(&data);
        return NULL;
    }
    if (check_open(self) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    for (unsigned k = 0; k < TIMED_SLOTS; k++) {
        unsigned i = (self->timed_hint + k) % TIMED_SLOTS;
        timed_slot *slot = &self->timed[i];
        if (SLOT_STATE(atomic_load_explicit(&slot->tag, memory_order_acquire)) != SLOT_FREE)
            continue;
        uint64_t id = ++self->timed_next_id;
        slot->size = (uint32_t)data.len;
        slot->due_s = due_s;
        memcpy(slot->data, data.buf, (size_t)data.len);
        atomic_fetch_add(&self->timed_queued, 1); /* before the tag: the count never lags */
        atomic_store_explicit(&slot->tag, (id << 2) | SLOT_QUEUED, memory_order_release);
        self->timed_hint = (i + 1) % TIMED_SLOTS;
        PyBuffer_Release(&data);
        return PyLong_FromUnsignedLongLong((unsigned long long)id);
    }
    PyBuffer_Release(&data);
    Py_RETURN_NONE; /* every slot holds a message */
}

/* collect() -> [(id, played_s)]: the time-stamped messages played since the last call,
 * in the order they played; their slots are free again. */
static PyObject *Client_collect(Client *self, PyObject *Py_UNUSED(a)) {
    PyObject *played = PyList_New(0);
    if (played == NULL)
        return NULL;
    uint64_t orders[TIMED_SLOTS];
    Py_ssize_t n = 0;
    for (int i = 0; i < TIMED_SLOTS; i++) {
        timed_slot *slot = &self->timed[i];
        uint_fast64_t tag = atomic_load_explicit(&slot->tag, memory_order_acquire);
        if (SLOT_STATE(tag) != SLOT_DONE)
            continue;
        PyObject *item = Py_BuildValue("(Kd)", (unsigned long long)SLOT_ID(tag), slot->played_s);
        uint64_t order = slot->order;
        if (item == NULL) {
            Py_DECREF(played);
            return NULL;
        }
        /* keep the list in play order (insertion: a handful per call) */
        Py_ssize_t k = n;
        while (k > 0 && orders[k - 1] > order)
            k--;
        if (PyList_Insert(played, k, item) < 0) {
            Py_DECREF(item);
            Py_DECREF(played);
            return NULL;
        }
        Py_DECREF(item);
        memmove(&orders[k + 1], &orders[k], (size_t)(n - k) * sizeof orders[0]);
        orders[k] = order;
        n++;
        atomic_store_explicit(&slot->tag, SLOT_FREE, memory_order_release);
    }
    return played;
}

/* cancel([id]) -> [id]: drop every time-stamped message not yet played (or only the one
 * named, if it is still held); the ids dropped. */
static PyObject *Client_cancel(Client *self, PyObject *args) {
    unsigned long long only = 0;
    if (!PyArg_ParseTuple(args, "|K", &only))
        return NULL;
    PyObject *dropped = PyList_New(0);
    if (dropped == NULL)
        return NULL;
    for (int i = 0; i < TIMED_SLOTS; i++) {
        timed_slot *slot = &self->timed[i];
        uint_fast64_t tag = atomic_load_explicit(&slot->tag, memory_order_acquire);
        if (SLOT_STATE(tag) != SLOT_QUEUED || (only != 0 && SLOT_ID(tag) != only))
            continue;
        if (!atomic_compare_exchange_strong(&slot->tag, &tag, SLOT_FREE))
            continue; /* the process thread took it first: collect() will tell */
        atomic_fetch_sub(&self->timed_queued, 1);
        if (append_new(dropped, PyLong_FromUnsignedLongLong((unsigned long long)SLOT_ID(tag))) < 0) {
            Py_DECREF(dropped);
            return NULL;
        }
    }
    return dropped;
}

/* delay_next_cycle(seconds): test hook; the next process cycle sleeps that long at its end. */
static PyObject *Client_delay_next_cycle(Client *self, PyObject *args) {
    double seconds;
    if (!PyArg_ParseTuple(args, "d", &seconds))
        return NULL;
    if (!(seconds >= 0.0 && seconds <= 1.0)) {
        PyErr_Format(PyExc_ValueError, "a delay of %R s (0-1)", PyTuple_GET_ITEM(args, 0));
        return NULL;
    }
    atomic_store(&self->delay_us, (unsigned)(seconds * 1e6));
    Py_RETURN_NONE;
}

/* flush(timeout_s) -> bool: wait (GIL released) until queued output has gone out. */
static PyObject *Client_flush(Client *self, PyObject *args) {
    double timeout_s;
    if (!PyArg_ParseTuple(args, "d", &timeout_s))
        return NULL;
    if (self->client == NULL || !self->active || atomic_load(&self->out_port) == NULL)
        Py_RETURN_TRUE;
    double until = mono_now_s() + timeout_s;
    int empty = 0;
    Py_BEGIN_ALLOW_THREADS
    while (!atomic_load(&self->shutdown)) {
        if (jack_ringbuffer_read_space(self->out_ring) == 0) {
            empty = 1;
            break;
        }
        if (mono_now_s() >= until)
            break;
        struct timespec nap = {0, 200000};
        nanosleep(&nap, NULL);
    }
    Py_END_ALLOW_THREADS
    /* the cycle that took the last bytes has to finish for a reader to see them */
    if (empty) {
        wait_cycles(self, 1, timeout_s);
        /* an xrun in the cycles that carried the last note_offs is reported a little later:
         * wait for the report and for the cycles that place those note_offs again */
        double quiet_s = atomic_load(&self->last_off_s) + FLUSH_XRUN_WAIT_S;
        Py_BEGIN_ALLOW_THREADS
        while (mono_now_s() < quiet_s && mono_now_s() < until && !atomic_load(&self->shutdown)) {
            struct timespec nap = {0, 1000000};
            nanosleep(&nap, NULL);
        }
        Py_END_ALLOW_THREADS
        double passes_until = mono_now_s() + XRUN_REPAIR_PASSES * XRUN_REPAIR_GAP_S + 0.01;
        while ((atomic_load(&self->xrun_ns) != atomic_load(&self->repaired_ns) ||
                atomic_load(&self->passes_left) > 0) && mono_now_s() < passes_until &&
               !atomic_load(&self->shutdown))
            wait_cycles(self, 1, 0.01);
    }
    return PyBool_FromLong(empty);
}

/* stalls() -> [(start_s, end_s)]: the last server stalls seen, oldest first. */
static PyObject *Client_stalls(Client *self, PyObject *Py_UNUSED(a)) {
    uint_fast64_t n = atomic_load(&self->stalls);
    uint_fast64_t first = n > STALL_SLOTS ? n - STALL_SLOTS : 0;
    PyObject *list = PyList_New(0);
    if (list == NULL)
        return NULL;
    for (uint_fast64_t i = first; i < n; i++) {
        if (append_new(list, Py_BuildValue("(dd)", self->stall_start_s[i % STALL_SLOTS],
                                           self->stall_end_s[i % STALL_SLOTS])) < 0) {
            Py_DECREF(list);
            return NULL;
        }
    }
    return list;
}

/* stalled_between(start_s, end_s) -> bool: whether a remembered stall overlaps the span.
 * Newest first; stalls end in order, so the scan stops at the first that ended by start_s. */
static PyObject *Client_stalled_between(Client *self, PyObject *args) {
    double start_s, end_s;
    if (!PyArg_ParseTuple(args, "dd", &start_s, &end_s))
        return NULL;
    uint_fast64_t n = atomic_load(&self->stalls);
    uint_fast64_t first = n > STALL_SLOTS ? n - STALL_SLOTS : 0;
    for (uint_fast64_t i = n; i > first; i--) {
        double stall_end_s = self->stall_end_s[(i - 1) % STALL_SLOTS];
        if (stall_end_s <= start_s)
            break;
        if (self->stall_start_s[(i - 1) % STALL_SLOTS] < end_s)
            Py_RETURN_TRUE;
    }
    Py_RETURN_FALSE;
}

static PyObject *Client_wake(Client *self, PyObject *Py_UNUSED(a)) {
    if (self->sem_ok)
        sem_post(&self->in_sem);
    Py_RETURN_NONE;
}

static PyObject *Client_close(Client *self, PyObject *Py_UNUSED(a)) {
    close_client(self);
    Py_RETURN_NONE;
}

static PyObject *Client_get_name(Client *self, void *Py_UNUSED(c)) {
    if (check_open(self) < 0)
        return NULL;
    return PyUnicode_FromString(jack_get_client_name(self->client));
}

static PyObject *Client_get_dropped(Client *self, void *Py_UNUSED(c)) {
    return PyLong_FromUnsignedLongLong((unsigned long long)atomic_load(&self->dropped));
}

static PyObject *Client_get_cycles(Client *self, void *Py_UNUSED(c)) {
    return PyLong_FromUnsignedLongLong((unsigned long long)atomic_load(&self->cycles));
}

static PyObject *Client_get_missed(Client *self, void *Py_UNUSED(c)) {
    return PyLong_FromUnsignedLongLong((unsigned long long)atomic_load(&self->missed));
}

static PyObject *Client_get_out_connects(Client *self, void *Py_UNUSED(c)) {
    return PyLong_FromUnsignedLongLong((unsigned long long)atomic_load(&self->out_connects));
}

static PyObject *Client_get_placed(Client *self, void *Py_UNUSED(c)) {
    return PyLong_FromUnsignedLongLong((unsigned long long)atomic_load(&self->placed));
}

static PyObject *Client_get_xruns(Client *self, void *Py_UNUSED(c)) {
    return PyLong_FromUnsignedLongLong((unsigned long long)atomic_load(&self->xruns));
}

static PyObject *Client_get_resent(Client *self, void *Py_UNUSED(c)) {
    return PyLong_FromUnsignedLongLong((unsigned long long)atomic_load(&self->resent));
}

static PyObject *Client_get_timed_lost(Client *self, void *Py_UNUSED(c)) {
    return PyLong_FromUnsignedLongLong((unsigned long long)atomic_load(&self->timed_lost));
}

/* Whether the server runs real-time (jackd -R): then its process threads, and this
 * client's, run SCHED_FIFO, and a Python thread may go real-time below them (issue 14). */
static PyObject *Client_get_realtime(Client *self, void *Py_UNUSED(c)) {
    if (check_open(self) < 0)
        return NULL;
    return PyBool_FromLong(jack_is_realtime(self->client) != 0);
}

/* The SCHED_FIFO priority JACK gives its client threads (this client's process thread
 * among them), or -1 when the server does not run real-time. */
static PyObject *Client_get_rt_priority(Client *self, void *Py_UNUSED(c)) {
    if (check_open(self) < 0)
        return NULL;
    return PyLong_FromLong(jack_client_real_time_priority(self->client));
}

static PyObject *Client_get_process_tid(Client *self, void *Py_UNUSED(c)) {
    return PyLong_FromLong(atomic_load(&self->process_tid));
}

static PyObject *Client_get_closed(Client *self, void *Py_UNUSED(c)) {
    return PyBool_FromLong(self->client == NULL || atomic_load(&self->shutdown));
}

static PyMethodDef Client_methods[] = {
    {"add_input", (PyCFunction)Client_add_input, METH_VARARGS,
     "add_input(name) -> full port name: register the client's MIDI input port."},
    {"add_output", (PyCFunction)Client_add_output, METH_VARARGS,
     "add_output(name) -> full port name: register the client's MIDI output port."},
    {"remove_input", (PyCFunction)Client_remove_input, METH_NOARGS, "Unregister the input port."},
    {"remove_output", (PyCFunction)Client_remove_output, METH_NOARGS, "Unregister the output port."},
    {"activate", (PyCFunction)Client_activate, METH_NOARGS, "Start the process callback."},
    {"connect", (PyCFunction)Client_connect, METH_VARARGS,
     "connect(source, destination): connect two JACK ports by full name; OSError if JACK refuses."},
    {"read", (PyCFunction)Client_read, METH_VARARGS,
     "read(timeout_s) -> [(bytes, time_s)]: input messages with their CLOCK_MONOTONIC times "
     "(seconds, frame-accurate), waiting up to timeout_s for the first. One reader thread only."},
    {"write", (PyCFunction)Client_write, METH_VARARGS,
     "write(data) -> bool: queue one MIDI message (1-256 bytes); the next cycle sends it at the "
     "frame one period after now. False when the queue is full. Callers serialise writes."},
    {"write_at", (PyCFunction)Client_write_at, METH_VARARGS,
     "write_at(data, due_s) -> id or None: hold one message (1-16 bytes) until due_s "
     "(CLOCK_MONOTONIC s); the cycle whose span holds due_s plays it at its frame (a late one at "
     "the cycle's first free frame). None when all 256 slots are taken. Callers serialise."},
    {"collect", (PyCFunction)Client_collect, METH_NOARGS,
     "collect() -> [(id, played_s)]: the write_at messages played since the last call, in play "
     "order, with the time their frame stands for (CLOCK_MONOTONIC s)."},
    {"cancel", (PyCFunction)Client_cancel, METH_VARARGS,
     "cancel([id]) -> [id]: drop every write_at message not yet played (or only the one named, "
     "if still held); the ids dropped. Each message is either played (collect() reports it) or "
     "dropped (here), never both."},
    {"delay_next_cycle", (PyCFunction)Client_delay_next_cycle, METH_VARARGS,
     "delay_next_cycle(seconds): test hook; the next process cycle sleeps that long (0-1 s)."},
    {"flush", (PyCFunction)Client_flush, METH_VARARGS,
     "flush(timeout_s) -> bool: wait until queued output has been handed to JACK."},
    {"stalls", (PyCFunction)Client_stalls, METH_NOARGS,
     "stalls() -> [(start_s, end_s)]: the last 1024 server stalls (between two cycles the clock "
     "ran on by over a period more than the frame count), CLOCK_MONOTONIC seconds, oldest first."},
    {"stalled_between", (PyCFunction)Client_stalled_between, METH_VARARGS,
     "stalled_between(start_s, end_s) -> bool: whether one of stalls() overlaps (start_s, end_s) "
     "(CLOCK_MONOTONIC s), without building the list."},
    {"wake", (PyCFunction)Client_wake, METH_NOARGS, "Make a waiting read() return now."},
    {"close", (PyCFunction)Client_close, METH_NOARGS, "Deactivate and close the client; idempotent."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Client_getset[] = {
    {"name", (getter)Client_get_name, NULL, "The client's name on the server.", NULL},
    {"dropped", (getter)Client_get_dropped, NULL, "Input messages not passed on (queue full, too long).", NULL},
    {"cycles", (getter)Client_get_cycles, NULL, "Process cycles run so far.", NULL},
    {"missed", (getter)Client_get_missed, NULL,
     "Cycles the server ran without this client (their MIDI input is lost).", NULL},
    {"out_connects", (getter)Client_get_out_connects, NULL,
     "Connections made to the output port so far (by anyone, JACK's notification thread).", NULL},
    {"closed", (getter)Client_get_closed, NULL, "Closed, or the server shut down.", NULL},
    {"realtime", (getter)Client_get_realtime, NULL,
     "Whether the JACK server runs real-time (jack_is_realtime). ValueError once closed.", NULL},
    {"rt_priority", (getter)Client_get_rt_priority, NULL,
     "The SCHED_FIFO priority (1-99) of JACK's client threads (jack_client_real_time_priority), "
     "-1 when the server does not run real-time. ValueError once closed.", NULL},
    {"process_tid", (getter)Client_get_process_tid, NULL,
     "The OS thread id of JACK's process thread for this client (Linux), 0 before its first cycle "
     "(or elsewhere).", NULL},
    {"placed", (getter)Client_get_placed, NULL,
     "Output events written into JACK's port buffers so far (each message once).", NULL},
    {"xruns", (getter)Client_get_xruns, NULL,
     "xrun reports from the server so far (a client, any, did not finish a cycle in time).", NULL},
    {"resent", (getter)Client_get_resent, NULL,
     "note_offs placed again after xrun reports so far (not counted in placed).", NULL},
    {"timed_lost", (getter)Client_get_timed_lost, NULL,
     "write_at messages taken but refused by JACK (expected 0: room is checked first).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ClientType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "livegen._jackmidi.Client",
    .tp_doc = "Client(name): one JACK client with at most one MIDI input and one MIDI output port.",
    .tp_basicsize = sizeof(Client),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Client_init,
    .tp_dealloc = (destructor)Client_dealloc,
    .tp_methods = Client_methods,
    .tp_getset = Client_getset,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "livegen._jackmidi",
    "One JACK client for livegen's MIDI ports, with a real-time-safe C process callback.", -1, NULL,
};

PyMODINIT_FUNC PyInit__jackmidi(void) {
    if (PyType_Ready(&ClientType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&ClientType);
    if (PyModule_AddObject(m, "Client", (PyObject *)&ClientType) < 0) {
        Py_DECREF(&ClientType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
