using System.Data.Common;
using Microsoft.EntityFrameworkCore;

namespace LoadBalancer.ControlPlane.Store.Sqlite;

/// <summary>
/// Turns the driver's and EF Core's failures (SqliteException, DbUpdateException) into
/// <see cref="StoreUnavailableException"/> at the edge of the SQLite store, so no caller
/// outside it has to name them.
/// </summary>
internal static class SqliteFailures
{
    public static bool IsStoreFailure(Exception ex) => ex is DbException or DbUpdateException;

    public static StoreUnavailableException Unavailable(Exception ex) => new(ex.GetBaseException().Message, ex);

    public static async Task Guard(Func<Task> action)
    {
        try
        {
            await action().ConfigureAwait(false);
        }
        catch (Exception ex) when (IsStoreFailure(ex))
        {
            throw Unavailable(ex);
        }
    }

    public static async Task<T> Guard<T>(Func<Task<T>> action)
    {
        try
        {
            return await action().ConfigureAwait(false);
        }
        catch (Exception ex) when (IsStoreFailure(ex))
        {
            throw Unavailable(ex);
        }
    }
}
