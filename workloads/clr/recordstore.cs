// recordstore: a random-access store of fixed-size records in one file, with
// a buffer pool in memory and a timer that checkpoints it.
//
// store.dat (--file-mib MiB) holds 256-byte records: id, version, 236 bytes
// of payload and a CRC-32 of the rest.  One unit = one read-modify-write of
// a record picked at random: the record's 4 KiB page is looked up in a
// direct-mapped buffer pool of --mem MiB (on a miss the old page is written
// back if dirty and the page read from the file), its CRC is checked, its
// version bumped and part of its payload rewritten, and its CRC recomputed.
// A System.Threading.Timer (on the thread pool) writes back every dirty page
// and flushes the file every 20 ms under the store's lock; when that happens
// changes what is in the file at a moment, never what a read sees nor the
// final contents.  The digest folds every record written and every CRC
// failure; the result folds it and the file after a last checkpoint.
using System;
using System.IO;
using System.Threading;

namespace Binmig.Workloads
{
    static class RecordStore
    {
        const int RecordBytes = 256, PageBytes = 4096, RecordsPerPage = PageBytes / RecordBytes;
        const int CrcOffset = RecordBytes - 4, PayloadOffset = 16;
        const int CheckpointMs = 20;

        static readonly Spec spec = new Spec {
            Name = "recordstore",
            Summary = "Read-modify-write of random fixed-size records in a file, with a CRC per\n" +
                      "record, a buffer pool, and a timer that checkpoints the pool.",
            Unit = "one record read, checked, modified and written",
            MemMeaning = "MiB of buffer pool (4 KiB pages)",
            FileMeaning = "size of the record file, in MiB (4096 records per MiB)",
            Accepts = Accepts.FileMib,
            DefaultWork = 50000, DefaultMemMib = 2, DefaultFileMib = 4,
            RssOverheadMib = 19,
        };

        static readonly uint[] crcTable = MakeCrcTable();

        static uint[] MakeCrcTable()
        {
            var table = new uint[256];
            for (uint n = 0; n < 256; n++) {
                uint c = n;
                for (int k = 0; k < 8; k++)
                    c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
                table[n] = c;
            }
            return table;
        }

        // The CRC-32 of zlib and Ethernet.
        static uint Crc32(byte[] buf, int off, int len)
        {
            uint c = 0xFFFFFFFFu;
            for (int i = 0; i < len; i++)
                c = crcTable[(c ^ buf[off + i]) & 0xFF] ^ (c >> 8);
            return c ^ 0xFFFFFFFFu;
        }

        sealed class Store
        {
            readonly FileStream file;
            readonly ChunkedBuffer pool;
            readonly long[] slotPage; // page held by each slot, -1 for none
            readonly bool[] dirty;
            readonly long pages;
            bool closed;
            public long Checkpoints, Misses;

            public Store(FileStream file, ChunkedBuffer pool, long pages)
            {
                this.file = file;
                this.pool = pool;
                this.pages = pages;
                slotPage = new long[pool.Length / PageBytes];
                dirty = new bool[slotPage.Length];
                for (long s = 0; s < slotPage.Length; s++)
                    slotPage[s] = -1;
            }

            byte[] SlotBytes(long slot, out int offset)
            {
                return pool.Block(slot, PageBytes, out offset);
            }

            void WriteBack(long slot)
            {
                int offset;
                byte[] bytes = SlotBytes(slot, out offset);
                file.Seek(slotPage[slot] * PageBytes, SeekOrigin.Begin);
                file.Write(bytes, offset, PageBytes);
                dirty[slot] = false;
            }

            // Brings page into the pool; returns its slot.  Caller holds the lock.
            public long Fetch(long page, out byte[] bytes, out int offset)
            {
                long slot = page % slotPage.Length;
                bytes = SlotBytes(slot, out offset);
                if (slotPage[slot] == page)
                    return slot;
                if (slotPage[slot] >= 0 && dirty[slot])
                    WriteBack(slot);
                file.Seek(page * PageBytes, SeekOrigin.Begin);
                if (Wl.ReadFull(file, bytes, offset, PageBytes) != PageBytes)
                    throw new IOException("short read of page " + page);
                slotPage[slot] = page;
                Misses++;
                return slot;
            }

            public void MarkDirty(long slot)
            {
                dirty[slot] = true;
            }

            // Writes back the page if it is in the pool and drops it.
            public void Evict(long page)
            {
                long slot = page % slotPage.Length;
                if (slotPage[slot] != page)
                    return;
                if (dirty[slot])
                    WriteBack(slot);
                slotPage[slot] = -1;
            }

            public void Checkpoint()
            {
                for (long s = 0; s < slotPage.Length; s++)
                    if (slotPage[s] >= 0 && dirty[s])
                        WriteBack(s);
                file.Flush();
                Checkpoints++;
            }

            public void OnTimer(object unused)
            {
                lock (this) {
                    if (!closed)
                        Checkpoint();
                }
            }

            public void Close()
            {
                lock (this) {
                    Checkpoint();
                    closed = true;
                }
            }

            public long Pages { get { return pages; } }
        }

        static int Main(string[] args)
        {
            return Wl.Run(spec, args, Run);
        }

        static void PutU64(byte[] b, int off, ulong v)
        {
            for (int i = 0; i < 8; i++)
                b[off + i] = (byte)(v >> (8 * i));
        }

        static ulong GetU64(byte[] b, int off)
        {
            ulong v = 0;
            for (int i = 0; i < 8; i++)
                v |= (ulong)b[off + i] << (8 * i);
            return v;
        }

        static void Seal(byte[] b, int off)
        {
            uint crc = Crc32(b, off, CrcOffset);
            for (int i = 0; i < 4; i++)
                b[off + CrcOffset + i] = (byte)(crc >> (8 * i));
        }

        static bool Intact(byte[] b, int off)
        {
            uint crc = 0;
            for (int i = 0; i < 4; i++)
                crc |= (uint)b[off + CrcOffset + i] << (8 * i);
            return crc == Crc32(b, off, CrcOffset);
        }

        static ulong Run(Options o)
        {
            long records = (long)o.FileMib * (Wl.Mib / RecordBytes);
            var file = Wl.OpenNew(o, "store.dat", 4096);
            var page = new byte[PageBytes];
            ulong rng = Wl.Stream(o.Seed, 1);
            for (long r = 0; r < records; r += RecordsPerPage) {
                Wl.FillRandom(page, ref rng);
                for (int i = 0; i < RecordsPerPage; i++) {
                    PutU64(page, i * RecordBytes, (ulong)(r + i));
                    PutU64(page, i * RecordBytes + 8, 0);
                    Seal(page, i * RecordBytes);
                }
                file.Write(page, 0, PageBytes);
            }
            file.Flush();
            var store = new Store(file, new ChunkedBuffer(o.MemMib, Wl.Stream(o.Seed, 0)),
                                  records / RecordsPerPage);
            var timer = new Timer(store.OnTimer, null, CheckpointMs, CheckpointMs);
            Wl.Ready();

            ulong digest = 0, corrupt = 0, pick = Wl.Stream(o.Seed, 2);
            for (ulong unit = 0; unit <= o.Limit; unit++) {
                if (o.Flip && unit == o.FlipAt) {
                    // Corruption on disk under a page the pool does not hold.
                    long target = (long)(unit % (ulong)store.Pages);
                    lock (store) {
                        store.Evict(target);
                        long at = target * PageBytes + (long)(unit * 97 % PageBytes);
                        Wl.FlipFileByte(spec, file, at, "store.dat", unit);
                    }
                }
                if (unit == o.Limit && !o.Extend())
                    break;
                long r = (long)(Wl.Rand(ref pick) % (ulong)records);
                lock (store) {
                    byte[] bytes;
                    int off;
                    long slot = store.Fetch(r / RecordsPerPage, out bytes, out off);
                    off += (int)(r % RecordsPerPage) * RecordBytes;
                    if (!Intact(bytes, off) || GetU64(bytes, off) != (ulong)r) {
                        corrupt++;
                        digest = Wl.FoldWord(digest, (ulong)r | 1UL << 63);
                    }
                    PutU64(bytes, off + 8, GetU64(bytes, off + 8) + 1);
                    for (int k = 0; k < 4; k++) {
                        int word = PayloadOffset + 8 * (int)(Wl.Rand(ref pick) % ((CrcOffset - PayloadOffset) / 8));
                        PutU64(bytes, off + word, GetU64(bytes, off + word) ^ Wl.Rand(ref pick));
                    }
                    Seal(bytes, off);
                    store.MarkDirty(slot);
                    digest = Wl.Fold(digest, bytes, off, RecordBytes);
                }
            }
            var stopped = new ManualResetEvent(false);
            timer.Dispose(stopped);
            stopped.WaitOne();
            store.Close();
            digest = Wl.FoldWord(digest, corrupt);
            digest = Wl.FoldFile(digest, file, new byte[64 * 1024]);
            file.Dispose();
            if (corrupt != 0)
                Console.Error.WriteLine("recordstore: {0} records failed their CRC", corrupt);
            Console.Error.WriteLine("recordstore: {0} pool misses, {1} checkpoints", store.Misses, store.Checkpoints);
            return digest;
        }
    }
}
