using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace LoadBalancer.ControlPlane.Store.Migrations
{
    /// <inheritdoc />
    public partial class BackendHealth : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "BackendHealth",
                columns: table => new
                {
                    Agent = table.Column<string>(type: "TEXT", nullable: false),
                    Pool = table.Column<string>(type: "TEXT", nullable: false),
                    Backend = table.Column<string>(type: "TEXT", nullable: false),
                    Tier = table.Column<string>(type: "TEXT", nullable: false),
                    State = table.Column<string>(type: "TEXT", nullable: false),
                    Reason = table.Column<string>(type: "TEXT", nullable: false),
                    Since = table.Column<DateTime>(type: "TEXT", nullable: false),
                    InFlight = table.Column<long>(type: "INTEGER", nullable: false),
                    ReportedAt = table.Column<DateTime>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_BackendHealth", x => new { x.Agent, x.Pool, x.Backend });
                });

            migrationBuilder.CreateIndex(
                name: "IX_BackendHealth_Pool_Backend",
                table: "BackendHealth",
                columns: new[] { "Pool", "Backend" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "BackendHealth");
        }
    }
}
