// Similarity search over an embedding matrix E [V, D] (rows are word vectors).
//
// Cosine:   cos(u, v) = u·v / (‖u‖ ‖v‖)            (defined as 0 when either vector is zero)
// Nearest:  the k rows r maximising cos(E_r, q), excluding some rows (e.g. the query word itself);
//           one Dot per row (TensorPrimitives, SIMD), row norms computed once and reusable.
// Analogy:  "a is to b as c is to ?" with the vector offset method (Mikolov et al. 2013, 3CosAdd):
//           q = â − b̂ + ĉ with û = u/‖u‖ (as gensim's most_similar(positive=[a, c], negative=[b]));
//           answer = nearest rows to q, excluding a, b and c. E.g. king − man + woman ≈ queen
//           is Analogy(a: king, b: man, c: woman).
namespace NeuralPrimitives;

/// <summary>Cosine similarity, nearest neighbours and analogies over a row-major embedding matrix, vectorised with <see cref="TensorPrimitives"/>.</summary>
public static class VectorSimilarity
{
    /// <summary>cos(u, v) = u·v / (‖u‖‖v‖), or 0 when either vector is zero.</summary>
    /// <param name="u">First vector.</param>
    /// <param name="v">Second vector, same length.</param>
    public static T Cosine<T>(ReadOnlySpan<T> u, ReadOnlySpan<T> v) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        Guard.Length(v.Length, u.Length, nameof(v));
        T nu = TensorPrimitives.Norm(u), nv = TensorPrimitives.Norm(v);
        return nu == T.Zero || nv == T.Zero ? T.Zero : TensorPrimitives.Dot(u, v) / (nu * nv);
    }

    /// <summary>Writes the Euclidean norm of every row of <paramref name="matrix"/> [rows, dim] into <paramref name="norms"/>.</summary>
    /// <param name="matrix">Row-major [rows, dim].</param>
    /// <param name="dim">Row length.</param>
    /// <param name="norms">Destination of length rows.</param>
    public static void RowNorms<T>(ReadOnlySpan<T> matrix, int dim, Span<T> norms) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        int rows = CheckMatrix(matrix, dim);
        Guard.Length(norms.Length, rows, nameof(norms));
        for (int r = 0; r < rows; r++) norms[r] = TensorPrimitives.Norm(matrix.Slice(r * dim, dim));
    }

    /// <summary>Writes cos(row r, <paramref name="query"/>) for every row r of <paramref name="matrix"/> into <paramref name="destination"/>.</summary>
    /// <param name="matrix">Row-major [rows, dim].</param>
    /// <param name="dim">Row length.</param>
    /// <param name="query">Vector of length dim.</param>
    /// <param name="destination">Length rows.</param>
    /// <param name="rowNorms">Precomputed <see cref="RowNorms"/> (computed on the fly when empty).</param>
    public static void CosineSimilarities<T>(ReadOnlySpan<T> matrix, int dim, ReadOnlySpan<T> query, Span<T> destination, ReadOnlySpan<T> rowNorms = default)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        int rows = CheckMatrix(matrix, dim);
        Guard.Length(query.Length, dim, nameof(query));
        Guard.Length(destination.Length, rows, nameof(destination));
        if (!rowNorms.IsEmpty) Guard.Length(rowNorms.Length, rows, nameof(rowNorms));
        T qn = TensorPrimitives.Norm(query);
        for (int r = 0; r < rows; r++)
        {
            var row = matrix.Slice(r * dim, dim);
            T rn = rowNorms.IsEmpty ? TensorPrimitives.Norm(row) : rowNorms[r];
            destination[r] = qn == T.Zero || rn == T.Zero ? T.Zero : TensorPrimitives.Dot(row, query) / (rn * qn);
        }
    }

    /// <summary>
    /// The <paramref name="k"/> rows most similar to <paramref name="query"/> by cosine, best first (ties: lower index first).
    /// </summary>
    /// <param name="matrix">Row-major [rows, dim].</param>
    /// <param name="dim">Row length.</param>
    /// <param name="query">Vector of length dim.</param>
    /// <param name="k">How many (≥ 1; fewer are returned if fewer rows remain).</param>
    /// <param name="exclude">Rows never returned (e.g. the query word).</param>
    /// <param name="rowNorms">Precomputed <see cref="RowNorms"/> (optional).</param>
    public static (int Index, T Similarity)[] NearestNeighbours<T>(ReadOnlySpan<T> matrix, int dim, ReadOnlySpan<T> query, int k,
        ReadOnlySpan<int> exclude = default, ReadOnlySpan<T> rowNorms = default) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        Guard.Positive(k);
        int rows = CheckMatrix(matrix, dim);
        var sims = new T[rows];
        CosineSimilarities(matrix, dim, query, sims, rowNorms);
        return TopK(sims, k, exclude);
    }

    /// <summary>
    /// Answers "<paramref name="a"/> is to <paramref name="b"/> as <paramref name="c"/> is to ?": the rows nearest to
    /// â − b̂ + ĉ (unit vectors), excluding a, b and c. King − man + woman ≈ queen is <c>Analogy(king, man, woman)</c>.
    /// </summary>
    /// <param name="matrix">Row-major [rows, dim].</param>
    /// <param name="dim">Row length.</param>
    /// <param name="a">Row of a.</param>
    /// <param name="b">Row of b (subtracted).</param>
    /// <param name="c">Row of c.</param>
    /// <param name="k">How many answers (default 1).</param>
    /// <param name="rowNorms">Precomputed <see cref="RowNorms"/> (optional).</param>
    public static (int Index, T Similarity)[] Analogy<T>(ReadOnlySpan<T> matrix, int dim, int a, int b, int c, int k = 1, ReadOnlySpan<T> rowNorms = default)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        int rows = CheckMatrix(matrix, dim);
        CheckRow(a, rows, nameof(a)); CheckRow(b, rows, nameof(b)); CheckRow(c, rows, nameof(c));
        var q = new T[dim];
        AddUnit(matrix.Slice(a * dim, dim), T.One, q);
        AddUnit(matrix.Slice(b * dim, dim), -T.One, q);
        AddUnit(matrix.Slice(c * dim, dim), T.One, q);
        return NearestNeighbours(matrix, dim, q, k, [a, b, c], rowNorms);
    }

    private static void AddUnit<T>(ReadOnlySpan<T> v, T sign, Span<T> acc) where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        T n = TensorPrimitives.Norm(v);
        if (n != T.Zero) TensorPrimitives.MultiplyAdd(v, sign / n, acc, acc);
    }

    internal static (int Index, T Similarity)[] TopK<T>(ReadOnlySpan<T> scores, int k, ReadOnlySpan<int> exclude) where T : IFloatingPointIeee754<T>
    {
        var best = new List<(int Index, T Similarity)>(k + 1);
        for (int r = 0; r < scores.Length; r++)
        {
            if (exclude.Contains(r)) continue;
            T s = scores[r];
            if (best.Count == k && !(s > best[^1].Similarity)) continue;
            int pos = best.Count;
            while (pos > 0 && s > best[pos - 1].Similarity) pos--;
            best.Insert(pos, (r, s));
            if (best.Count > k) best.RemoveAt(k);
        }
        return best.ToArray();
    }

    private static int CheckMatrix<T>(ReadOnlySpan<T> matrix, int dim)
    {
        Guard.Positive(dim);
        if (matrix.Length % dim != 0)
            throw new ArgumentException($"matrix length {matrix.Length} is not a multiple of dim {dim}.", nameof(matrix));
        return matrix.Length / dim;
    }

    private static void CheckRow(int row, int rows, string name)
    {
        if ((uint)row >= (uint)rows)
            throw new ArgumentOutOfRangeException(name, row, $"{name} must be a row index in [0, {rows}), got {row}.");
    }
}
