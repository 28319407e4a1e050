import { IsInt, IsNotEmpty, IsString, Max, MaxLength, Min } from 'class-validator';

export class CreateOrderDto {
  @IsString()
  @IsNotEmpty()
  @MaxLength(100)
  item!: string;

  @IsInt()
  @Min(1)
  @Max(1000)
  quantity!: number;
}
