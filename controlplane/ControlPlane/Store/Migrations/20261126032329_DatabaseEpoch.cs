using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace LoadBalancer.ControlPlane.Store.Migrations
{
    /// <inheritdoc />
    public partial class DatabaseEpoch : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "Epoch",
                table: "Revision",
                type: "TEXT",
                nullable: false,
                defaultValue: "");

            migrationBuilder.UpdateData(
                table: "Revision",
                keyColumn: "Id",
                keyValue: 1,
                column: "Epoch",
                value: "");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "Epoch",
                table: "Revision");
        }
    }
}
