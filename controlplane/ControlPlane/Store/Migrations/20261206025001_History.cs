using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace LoadBalancer.ControlPlane.Store.Migrations
{
    /// <inheritdoc />
    public partial class History : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "HistoryHorizon",
                columns: table => new
                {
                    Id = table.Column<int>(type: "INTEGER", nullable: false),
                    OldestKept = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_HistoryHorizon", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "ResourceHistory",
                columns: table => new
                {
                    Revision = table.Column<long>(type: "INTEGER", nullable: false),
                    Kind = table.Column<string>(type: "TEXT", nullable: false),
                    Name = table.Column<string>(type: "TEXT", nullable: false),
                    Deleted = table.Column<bool>(type: "INTEGER", nullable: false),
                    Uid = table.Column<string>(type: "TEXT", nullable: false),
                    Generation = table.Column<long>(type: "INTEGER", nullable: false),
                    CreatedAt = table.Column<DateTime>(type: "TEXT", nullable: false),
                    LabelsJson = table.Column<string>(type: "TEXT", nullable: false),
                    SpecJson = table.Column<string>(type: "TEXT", nullable: false),
                    Sealed = table.Column<byte[]>(type: "BLOB", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_ResourceHistory", x => new { x.Kind, x.Name, x.Revision });
                });

            migrationBuilder.CreateIndex(
                name: "IX_ResourceHistory_Revision",
                table: "ResourceHistory",
                column: "Revision");

            // An existing database keeps no older content: its history starts with the current
            // state at the current revision, which is then the oldest kept.
            const string Revision = "(SELECT Value FROM Revision WHERE Id = 1)";
            const string Columns = "(Revision, Kind, Name, Deleted, Uid, Generation, CreatedAt, LabelsJson, SpecJson, Sealed)";
            migrationBuilder.Sql($"INSERT INTO ResourceHistory {Columns} SELECT {Revision}, 'Pool', Name, 0, Uid, Generation, CreatedAt, LabelsJson, SpecJson, SessionKey FROM Pools;");
            migrationBuilder.Sql($"INSERT INTO ResourceHistory {Columns} SELECT {Revision}, 'Backend', Name, 0, Uid, Generation, CreatedAt, LabelsJson, SpecJson, X'' FROM Backends;");
            migrationBuilder.Sql($"INSERT INTO ResourceHistory {Columns} SELECT {Revision}, 'Listener', Name, 0, Uid, Generation, CreatedAt, LabelsJson, SpecJson, X'' FROM Listeners;");
            migrationBuilder.Sql($"INSERT INTO ResourceHistory {Columns} SELECT {Revision}, 'Certificate', Name, 0, Uid, Generation, CreatedAt, LabelsJson, SpecJson, EncryptedPrivateKey FROM Certificates;");
            migrationBuilder.Sql($"INSERT INTO HistoryHorizon (Id, OldestKept) SELECT 1, COALESCE({Revision}, 0);");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "HistoryHorizon");

            migrationBuilder.DropTable(
                name: "ResourceHistory");
        }
    }
}
