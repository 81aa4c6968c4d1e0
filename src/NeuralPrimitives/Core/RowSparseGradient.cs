// A gradient that is zero except on a few rows: what an embedding lookup's backward
// produces (a scatter-add into the rows that occurred; PyTorch's sparse=True). Storing only
// the touched rows makes backward cost O(rows used × D) instead of O(V × D), and lets an
// optimiser update only those rows.
//
// Layout: for a [Rows, RowLength] parameter, TouchedRows[s] is the row index held in slot s,
// and Values[s·RowLength .. (s+1)·RowLength) is its gradient. Clear() costs O(touched rows).
namespace NeuralPrimitives;

/// <summary>
/// A row-sparse gradient for a [<see cref="Rows"/>, <see cref="RowLength"/>] parameter: only rows
/// that received a gradient are stored. Duplicate accumulation into a row adds up.
/// </summary>
/// <typeparam name="T">Element type.</typeparam>
public sealed class RowSparseGradient<T> where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly int[] _slotOfRow;
    private int[] _rows = new int[16];
    private T[] _values;
    private int _count;

    /// <summary>Creates an empty row-sparse gradient for a [rows, rowLength] parameter.</summary>
    public RowSparseGradient(int rows, int rowLength)
    {
        Guard.Positive(rows);
        Guard.Positive(rowLength);
        Guard.ElementCount(rows, rowLength, nameof(rows), nameof(rows), nameof(rowLength)); // the dense parameter it belongs to must exist
        Rows = rows;
        RowLength = rowLength;
        _slotOfRow = new int[rows];
        System.Array.Fill(_slotOfRow, -1);
        _values = new T[16 * rowLength];
    }

    /// <summary>Number of rows of the parameter.</summary>
    public int Rows { get; }

    /// <summary>Length of one row.</summary>
    public int RowLength { get; }

    /// <summary>How many distinct rows hold a gradient.</summary>
    public int Count => _count;

    /// <summary>The row indices that hold a gradient, in the order they were first touched.</summary>
    public ReadOnlySpan<int> TouchedRows => _rows.AsSpan(0, _count);

    /// <summary>The gradient of the row held in slot <paramref name="slot"/> (0 ≤ slot &lt; Count).</summary>
    public Span<T> SlotValues(int slot)
    {
        if ((uint)slot >= (uint)_count) throw new ArgumentOutOfRangeException(nameof(slot), slot, $"slot must be in [0, {_count}), got {slot}.");
        return _values.AsSpan(slot * RowLength, RowLength);
    }

    /// <summary>
    /// Returns the gradient row for parameter row <paramref name="row"/>, creating a zeroed one if the
    /// row was not touched yet. Callers add into it.
    /// </summary>
    public Span<T> Row(int row)
    {
        if ((uint)row >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(row), row, $"row must be in [0, {Rows}), got {row}.");
        int slot = _slotOfRow[row];
        if (slot < 0)
        {
            slot = _count++;
            if (slot == _rows.Length)
            {
                System.Array.Resize(ref _rows, _rows.Length * 2);
                System.Array.Resize(ref _values, _rows.Length * RowLength);
            }
            _rows[slot] = row;
            _slotOfRow[row] = slot;
            var fresh = _values.AsSpan(slot * RowLength, RowLength);
            fresh.Clear();
            return fresh;
        }
        return _values.AsSpan(slot * RowLength, RowLength);
    }

    /// <summary>Forgets every touched row (cost proportional to the number of touched rows).</summary>
    public void Clear()
    {
        for (int s = 0; s < _count; s++) _slotOfRow[_rows[s]] = -1;
        _count = 0;
    }

    /// <summary>Adds this gradient into a dense [Rows, RowLength] buffer.</summary>
    public void AddTo(Span<T> dense)
    {
        Guard.Length(dense.Length, Rows * RowLength, nameof(dense));
        for (int s = 0; s < _count; s++)
        {
            var dst = dense.Slice(_rows[s] * RowLength, RowLength);
            TensorPrimitives.Add(dst, _values.AsSpan(s * RowLength, RowLength), dst);
        }
    }
}
